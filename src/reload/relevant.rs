//! Which file events can change the configuration: the config file, the files it names
//! (certificates, keys, CA bundles, token), and the directory entries those are reached
//! through.
//!
//! Directories are watched rather than files (editors save by rename, Kubernetes swaps a
//! symlinked directory), so every write to any file in them produces an event — an access log
//! written next to the config would produce one per request. Events are filtered by path as
//! they arrive, before they wake the debounce and reload machinery.

use notify::event::{Event, EventKind};
use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

/// The paths whose events matter, as notify reports them (absolute, `.` components dropped).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RelevantPaths(BTreeSet<PathBuf>);

impl RelevantPaths {
    /// For a config file and the files it depends on. A file that is a symlink with a
    /// relative target adds the first entry of that target in its own directory: Kubernetes
    /// mounts a ConfigMap as `gatehouse.toml -> ..data/gatehouse.toml` and updates it by
    /// renaming a new `..data` symlink into place, an event that names only `..data`.
    pub fn of(config_path: &Path, dependent: &[PathBuf]) -> Self {
        let mut paths = BTreeSet::new();
        for file in std::iter::once(config_path).chain(dependent.iter().map(PathBuf::as_path)) {
            let file = absolute(file);
            if let Ok(target) = std::fs::read_link(&file) {
                if let (false, Some(Component::Normal(first)), Some(dir)) = (
                    target.is_absolute(),
                    target.components().next(),
                    file.parent(),
                ) {
                    paths.insert(dir.join(first));
                }
            }
            paths.insert(file);
        }
        RelevantPaths(paths)
    }

    /// Whether `event` may have changed one of the files. Reads are ignored; an event without
    /// paths (the kernel queue overflowed: anything may have changed) counts.
    pub fn matches(&self, event: &Event) -> bool {
        if matches!(event.kind, EventKind::Access(_)) {
            return false;
        }
        event.paths.is_empty()
            || event.need_rescan()
            || event
                .paths
                .iter()
                .any(|p| self.0.contains(&p.components().collect::<PathBuf>()))
    }
}

/// `path` made absolute the way notify makes watched paths absolute (against the current
/// directory), with `.` components dropped so both sides compare equal.
fn absolute(path: &Path) -> PathBuf {
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|cwd| cwd.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    };
    path.components().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, DataChange, ModifyKind, RenameMode};

    fn event(kind: EventKind, paths: &[&Path]) -> Event {
        let mut e = Event::new(kind);
        for p in paths {
            e = e.add_path(p.to_path_buf());
        }
        e
    }

    #[test]
    fn only_the_config_and_its_files_count() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let relevant = RelevantPaths::of(&d.join("gatehouse.toml"), &[d.join("certs/site.crt")]);
        let write = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        assert!(relevant.matches(&event(write, &[&d.join("gatehouse.toml")])));
        assert!(relevant.matches(&event(write, &[&d.join("./certs/site.crt")])));
        assert!(!relevant.matches(&event(write, &[&d.join("access.log")])));
        assert!(!relevant.matches(&event(write, &[&d.join("certs/other.crt")])));
        // An editor's save: a swap file renamed over the config.
        let rename = EventKind::Modify(ModifyKind::Name(RenameMode::Both));
        assert!(relevant.matches(&event(
            rename,
            &[&d.join(".gatehouse.toml.swp"), &d.join("gatehouse.toml")]
        )));
        assert!(!relevant.matches(&event(
            EventKind::Create(CreateKind::File),
            &[&d.join(".gatehouse.toml.swp")]
        )));
        assert!(!relevant.matches(&event(
            EventKind::Access(notify::event::AccessKind::Any),
            &[&d.join("gatehouse.toml")]
        )));
        // Overflow: anything may have changed.
        assert!(relevant.matches(&event(EventKind::Other, &[])));
    }

    #[test]
    fn a_kubernetes_configmap_swap_counts() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("..2024_01")).unwrap();
        std::fs::write(d.join("..2024_01/gatehouse.toml"), "").unwrap();
        std::os::unix::fs::symlink("..2024_01", d.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/gatehouse.toml", d.join("gatehouse.toml")).unwrap();
        let relevant = RelevantPaths::of(&d.join("gatehouse.toml"), &[]);
        let moved_to = EventKind::Modify(ModifyKind::Name(RenameMode::To));
        assert!(relevant.matches(&event(moved_to, &[&d.join("..data")])));
        assert!(!relevant.matches(&event(
            EventKind::Create(CreateKind::Folder),
            &[&d.join("..2024_02")]
        )));
    }

    #[test]
    fn relative_paths_compare_like_notify_reports_them() {
        let relevant = RelevantPaths::of(Path::new("gatehouse.toml"), &[]);
        let cwd = std::env::current_dir().unwrap();
        let write = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        assert!(relevant.matches(&event(write, &[&cwd.join("./gatehouse.toml")])));
    }
}
