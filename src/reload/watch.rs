//! File watching: the config file and every file it names (certificates, keys, CA bundles,
//! the admin token), through their parent directories, because editors save by rename and
//! Kubernetes swaps a symlinked directory. Events about other files in those directories are
//! dropped on arrival (see [`RelevantPaths`]); bursts are debounced; writes that leave the
//! content unchanged are dropped by the reload itself (content digest).

use super::relevant::RelevantPaths;
use super::{Reloader, Trigger};
use notify::{RecursiveMode, Watcher};
use parking_lot::RwLock;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Directories to watch for a config: the config's own and those of its dependent files.
pub fn watched_dirs(config_path: &Path, dependent: &[PathBuf]) -> BTreeSet<PathBuf> {
    std::iter::once(config_path)
        .chain(dependent.iter().map(PathBuf::as_path))
        .filter_map(|p| {
            let parent = p.parent()?;
            Some(if parent.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                parent.to_path_buf()
            })
        })
        .collect()
}

/// Watches until `shutdown` flips, reloading after each debounced burst of events.
pub async fn run(reloader: Arc<Reloader>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let relevant = Arc::new(RwLock::new(RelevantPaths::default()));
    let filter = relevant.clone();
    let mut watcher = match notify::recommended_watcher(
        move |event: notify::Result<notify::Event>| {
            if let Ok(event) = event {
                if filter.read().matches(&event) {
                    let _ = tx.send(());
                }
            }
        },
    ) {
        Ok(w) => w,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the config file watcher; use SIGHUP or `gatehouse reload`");
            return;
        }
    };
    let mut watching: BTreeSet<PathBuf> = BTreeSet::new();
    let refresh = |watcher: &mut notify::RecommendedWatcher, watching: &mut BTreeSet<PathBuf>| {
        let snapshot = reloader.state().load();
        let dependent = &snapshot.config.dependent_files;
        *relevant.write() = RelevantPaths::of(reloader.path(), dependent);
        let wanted = watched_dirs(reloader.path(), dependent);
        for gone in watching.difference(&wanted) {
            let _ = watcher.unwatch(gone);
        }
        for dir in wanted.difference(watching) {
            if let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive) {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot watch directory");
            }
        }
        *watching = wanted;
    };
    refresh(&mut watcher, &mut watching);
    // Edits made between the initial load and the watch registration produced no event we
    // could see: compare contents once now, then every later edit arrives as an event. Not
    // with `watch = false`: there, only an explicit reload applies an edit (an edit made just
    // after start-up was applied by this catch-up, a generation nobody asked for).
    if reloader.state().load().config.reload.watch {
        let r = reloader.clone();
        let _ = tokio::task::spawn_blocking(move || r.reload(Trigger::FileWatch)).await;
    }
    reloader.set_watching();
    loop {
        let debounce = reloader
            .state()
            .load()
            .config
            .reload
            .debounce
            .max(MIN_DEBOUNCE);
        tokio::select! {
            _ = shutdown.changed() => return,
            event = rx.recv() => if event.is_none() { return },
        }
        // Debounce: wait for a quiet period after the last event of the burst.
        loop {
            match tokio::time::timeout(debounce, rx.recv()).await {
                Ok(Some(())) => continue,
                Ok(None) => return,
                Err(_) => break,
            }
        }
        if !reloader.state().load().config.reload.watch {
            continue;
        }
        let r = reloader.clone();
        let _ = tokio::task::spawn_blocking(move || r.reload(Trigger::FileWatch)).await;
        refresh(&mut watcher, &mut watching);
    }
}

/// Shortest debounce accepted, so a misconfiguration cannot spin.
pub const MIN_DEBOUNCE: Duration = Duration::from_millis(5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watches_parent_directories_once() {
        let dirs = watched_dirs(
            Path::new("/etc/gatehouse/gatehouse.toml"),
            &[
                PathBuf::from("/etc/gatehouse/certs/a.pem"),
                PathBuf::from("/etc/gatehouse/certs/a.key"),
                PathBuf::from("/etc/gatehouse/token"),
            ],
        );
        assert_eq!(
            dirs.into_iter().collect::<Vec<_>>(),
            vec![
                PathBuf::from("/etc/gatehouse"),
                PathBuf::from("/etc/gatehouse/certs")
            ]
        );
        assert_eq!(
            watched_dirs(Path::new("gatehouse.toml"), &[])
                .into_iter()
                .collect::<Vec<_>>(),
            vec![PathBuf::from(".")]
        );
    }
}
