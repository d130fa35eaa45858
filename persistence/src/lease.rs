//! Run leases: which engine owns a run right now.
//!
//! A lease of a file-backed store is an exclusive advisory lock (`flock`) on
//! `<database>.locks/<run id>.lock`, held for as long as the engine runs the run. The operating
//! system drops the lock when its process ends, however it ends (`kill -9` included), so a run
//! whose process died is free to be resumed at once, while a run that is live somewhere cannot
//! be taken over twice. The lock file is removed once the run has ended.
//!
//! An in-memory database has no other process to fear: its leases are a set in this process.

use relavium_runtime::RunId;
use relavium_runtime::store::{InProcessLeases, RunLease, StoreError};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;

/// Where a store's leases live.
#[derive(Debug)]
pub(crate) enum Leases {
    /// Lock files in a directory next to the database.
    Dir(PathBuf),
    /// A set in this process.
    InProcess(InProcessLeases),
}

impl Leases {
    pub(crate) fn in_dir(dir: PathBuf) -> Leases {
        Leases::Dir(dir)
    }

    pub(crate) fn in_process() -> Leases {
        Leases::InProcess(InProcessLeases::default())
    }

    pub(crate) fn claim(&self, run_id: &RunId) -> Result<Box<dyn RunLease>, StoreError> {
        match self {
            Leases::Dir(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Backend(format!("failed to create {}: {e}", dir.display()))
                })?;
                let Some(path) = lock_file(dir, run_id) else {
                    return Err(StoreError::UnknownRun(run_id.0.clone()));
                };
                let file = OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&path)
                    .map_err(|e| {
                        StoreError::Backend(format!("failed to open {}: {e}", path.display()))
                    })?;
                match file.try_lock() {
                    Ok(()) => Ok(Box::new(FileLease { file, path })),
                    Err(TryLockError::WouldBlock) => Err(StoreError::Claimed(run_id.0.clone())),
                    Err(TryLockError::Error(e)) => Err(StoreError::Backend(format!(
                        "failed to lock {}: {e}",
                        path.display()
                    ))),
                }
            }
            Leases::InProcess(leases) => leases.claim(run_id),
        }
    }

    /// Whether some engine holds the run's lease, without creating anything (so it works on a
    /// read-only history): no lock file means no owner.
    pub(crate) fn is_claimed(&self, run_id: &RunId) -> Result<bool, StoreError> {
        match self {
            Leases::Dir(dir) => {
                let Some(path) = lock_file(dir, run_id) else {
                    return Ok(false);
                };
                let file = match File::open(&path) {
                    Ok(file) => file,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
                    Err(e) => {
                        return Err(StoreError::Backend(format!(
                            "failed to open {}: {e}",
                            path.display()
                        )));
                    }
                };
                match file.try_lock_shared() {
                    Ok(()) => {
                        let _ = file.unlock();
                        Ok(false)
                    }
                    Err(TryLockError::WouldBlock) => Ok(true),
                    Err(TryLockError::Error(e)) => Err(StoreError::Backend(format!(
                        "failed to lock {}: {e}",
                        path.display()
                    ))),
                }
            }
            Leases::InProcess(leases) => match leases.claim(run_id) {
                Ok(lease) => {
                    drop(lease);
                    Ok(false)
                }
                Err(StoreError::Claimed(_)) => Ok(true),
                Err(other) => Err(other),
            },
        }
    }
}

/// The lock file of `run_id` in `dir`, if the id can be a run's ([`RunId::parse`]): anything
/// else is refused rather than used as a path.
fn lock_file(dir: &std::path::Path, run_id: &RunId) -> Option<PathBuf> {
    RunId::parse(&run_id.0).map(|id| dir.join(format!("{}.lock", id.0)))
}

#[derive(Debug)]
struct FileLease {
    file: File,
    path: PathBuf,
}

impl RunLease for FileLease {
    fn finished(self: Box<Self>) {
        // Remove the file while still holding the lock: a process that opened it meanwhile
        // locks an unlinked file and then finds the run ended.
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}
