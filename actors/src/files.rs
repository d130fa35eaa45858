//! Reading a file that a user or a model named: only a regular file, at most a limit.
//!
//! A path can name anything: `/dev/zero` never ends, a FIFO blocks its reader until a writer
//! comes, a 3 GB log would be read whole before any size check. So the file is opened without
//! blocking (`O_NONBLOCK`: opening a FIFO returns at once), checked on the open handle (no race
//! between the check and the read), refused unless it is a regular file, and read through a
//! `take` of the limit plus one byte, so no more than the limit is ever in memory. Every
//! surface reads workflow, agent, script and configuration files through here, and so does
//! the `file.read` tool.

use std::io::Read;
use std::path::Path;

/// The largest workflow, agent, script or configuration file read.
pub const MAX_SOURCE_BYTES: u64 = 32 * 1024 * 1024;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadFileError {
    /// It could not be opened or read.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// It is a directory, a FIFO, a device or a socket.
    #[error("it is {0}, not a regular file")]
    NotRegular(&'static str),
    /// It is longer than the limit.
    #[error("it is larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// It is not UTF-8 text.
    #[error("it is not UTF-8 text")]
    NotText,
}

impl ReadFileError {
    /// Whether the file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadFileError::Io(e) if e.kind() == std::io::ErrorKind::NotFound)
    }
}

/// The bytes of the regular file at `path`, if it holds at most `limit` of them.
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, ReadFileError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    let metadata = file.metadata()?;
    let kind = metadata.file_type();
    if !kind.is_file() {
        return Err(ReadFileError::NotRegular(describe(&kind)));
    }
    if metadata.len() > limit {
        return Err(ReadFileError::TooLarge { limit });
    }
    // The size can change under us (a file still being written): read at most one byte more
    // than the limit to tell.
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(ReadFileError::TooLarge { limit });
    }
    Ok(bytes)
}

/// The text of the regular file at `path`, if it holds at most `limit` bytes of UTF-8.
pub fn read_regular_text(path: &Path, limit: u64) -> Result<String, ReadFileError> {
    String::from_utf8(read_regular(path, limit)?).map_err(|_| ReadFileError::NotText)
}

fn describe(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a directory"
    } else {
        "not a file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_file_within_the_limit_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "hello").unwrap();
        assert_eq!(read_regular_text(&path, 5).unwrap(), "hello");
        assert!(matches!(
            read_regular(&path, 4),
            Err(ReadFileError::TooLarge { limit: 4 })
        ));
        assert!(
            read_regular(&dir.path().join("missing"), 4)
                .unwrap_err()
                .is_not_found()
        );
    }

    #[cfg(unix)]
    #[test]
    fn devices_directories_and_fifos_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_regular(Path::new("/dev/zero"), 1024).unwrap_err();
        assert_eq!(err.to_string(), "it is a device, not a regular file");
        let err = read_regular(dir.path(), 1024).unwrap_err();
        assert_eq!(err.to_string(), "it is a directory, not a regular file");
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        // No writer: a blocking open would never return.
        let err = read_regular(&fifo, 1024).unwrap_err();
        assert_eq!(err.to_string(), "it is a FIFO, not a regular file");
    }

    #[test]
    fn not_utf8_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.bin");
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert!(matches!(
            read_regular_text(&path, 10),
            Err(ReadFileError::NotText)
        ));
    }
}
