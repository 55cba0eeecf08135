//! Config errors: every problem names the key path and the line, River-style.

use std::fmt;
use std::path::PathBuf;

/// One finding, e.g. `routes.admin.pool: unknown pool "api2" (known: public, admin) at line 31`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// Key path in the file, e.g. `pools.public.backends[1].address` (empty for syntax errors).
    pub path: String,
    /// What is wrong and, where possible, what to write instead.
    pub message: String,
    /// 1-based line of the key (or of its nearest enclosing table).
    pub line: Option<usize>,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)?;
        } else {
            write!(f, "{}: {}", self.path, self.message)?;
        }
        if let Some(line) = self.line {
            write!(f, " at line {line}")?;
        }
        Ok(())
    }
}

/// Why a config file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but has problems; all of them are listed.
    #[error("{}: {} problem{}:\n{}", path.display(), issues.len(), if issues.len() == 1 { "" } else { "s" }, render(issues))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found, in file order.
        issues: Vec<Issue>,
    },
}

impl ConfigError {
    /// The individual problems (a read failure is one problem).
    pub fn issues(&self) -> Vec<String> {
        match self {
            ConfigError::Read { .. } => vec![self.to_string()],
            ConfigError::Invalid { issues, .. } => issues.iter().map(|i| i.to_string()).collect(),
        }
    }
}

fn render(issues: &[Issue]) -> String {
    issues
        .iter()
        .map(|i| format!("  - {i}"))
        .collect::<Vec<_>>()
        .join("\n")
}
