//! The files a run writes (recordings, casts): how they are opened, so that
//! none is ever clobbered and no open ever blocks, and the check that no
//! output is an input or another output.
//!
//! # Opening an output ([`open`])
//!
//! - A name the user gave ([`Naming::Given`]: `--record FILE`, `--cast
//!   FILE`) is created exclusively (`create_new`): if it exists, or another
//!   run creates it first, the open fails with one line naming it. Two runs
//!   given the same path can therefore never both write it.
//! - A name fantop chose ([`Naming::Chosen`]: `fantop-YYYYmmdd-HHMMSS.jsonl`,
//!   or a second recording of the same run) is the first of `NAME`,
//!   `NAME-2`, `NAME-3`, … that `create_new` can create: free names are
//!   taken race-free, by trying, never by looking first.
//! - A character device (a terminal, `/dev/stdout` on a terminal,
//!   `/dev/null`, `/dev/full`) is written in place: opened with `O_NONBLOCK`
//!   (and `O_NOCTTY`), so the open cannot wait, then switched back to
//!   blocking writes. Anything else that exists — a FIFO (whose open would
//!   wait for a reader), a socket, a directory, a block device — is refused
//!   with one line naming it, before any open.
//!
//! Every error names the file: `rec.jsonl: No space left on device`
//! ([`named`]).
//!
//! # Outputs against inputs ([`check`])
//!
//! One list of `(flag, path)` inputs and one of outputs: an output that is
//! the same file as an input or as another output is a usage error naming
//! both flags (a character device, written in place, may take several).
//! A new output flag is one more pair in the caller's list.

use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use rustix::fs::OFlags;

/// Whose name an output has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Naming {
    /// The user's (a flag): created exactly there, or refused.
    Given,
    /// fantop's: the first free name of `NAME`, `NAME-2`, `NAME-3`, …
    Chosen,
}

/// Most names [`Naming::Chosen`] tries (`NAME` to `NAME-10000`) before it
/// gives up.
pub const MAX_NAME_TRIES: u32 = 10_000;

/// An output opened for writing.
#[derive(Debug)]
pub struct Output {
    pub file: File,
    /// Where it was opened (for a [`Naming::Chosen`] name, the one taken).
    pub path: PathBuf,
    /// A character device (a terminal, `/dev/null`), written in place: the
    /// same path can be opened again.
    pub device: bool,
}

/// Opens an output for writing without ever truncating a file or waiting;
/// see the module doc. Errors name the file.
pub fn open(path: &Path, naming: Naming) -> io::Result<Output> {
    match std::fs::metadata(path) {
        Ok(m) if m.file_type().is_char_device() => return open_device(path),
        Ok(m) if !m.is_file() => return Err(not_writable(path, &m)),
        Ok(_) if naming == Naming::Given => return Err(exists(path)),
        _ => {}
    }
    match naming {
        Naming::Given => create_new(path).map_err(|e| match e.kind() {
            // Created in the meantime, or a symlink to nowhere.
            io::ErrorKind::AlreadyExists => exists(path),
            _ => named(path, e),
        }),
        Naming::Chosen => {
            for i in 1..=MAX_NAME_TRIES {
                let candidate = numbered(path, i);
                match create_new(&candidate) {
                    Ok(o) => return Ok(o),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(named(&candidate, e)),
                }
            }
            Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{}: taken, and so are the next {} numbered names",
                    path.display(),
                    MAX_NAME_TRIES - 1
                ),
            ))
        }
    }
}

/// Whether `path` could be opened with [`Naming::Given`] now: the check a
/// run makes before it starts, so that it fails at once rather than at a
/// scenario's `record_start` step. ([`open`] checks again: this is advice.)
pub fn check_new(path: &Path) -> io::Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if m.file_type().is_char_device() => Ok(()),
        Ok(m) if !m.is_file() => Err(not_writable(path, &m)),
        Ok(_) => Err(exists(path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => Err(named(
                path,
                io::Error::new(io::ErrorKind::NotFound, format!("no directory {}", dir.display())),
            )),
            _ => Ok(()),
        },
        Err(e) => Err(named(path, e)),
    }
}

/// `NAME` for 1, `STEM-i.EXT` for i > 1.
fn numbered(path: &Path, i: u32) -> PathBuf {
    if i == 1 {
        return path.to_path_buf();
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    path.with_file_name(format!("{stem}-{i}{ext}"))
}

fn create_new(path: &Path) -> io::Result<Output> {
    let file = OpenOptions::new().write(true).create_new(true).open(path)?;
    Ok(Output {
        file,
        path: path.to_path_buf(),
        device: false,
    })
}

/// Opens a character device without waiting, then makes its writes
/// blocking again (a terminal that is slow to read must not fail them).
fn open_device(path: &Path) -> io::Result<Output> {
    let flags = OFlags::NONBLOCK | OFlags::NOCTTY;
    let file = OpenOptions::new()
        .write(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
        .map_err(|e| named(path, e))?;
    let m = file.metadata().map_err(|e| named(path, e))?;
    if !m.file_type().is_char_device() {
        // Replaced between the look and the open.
        return Err(not_writable(path, &m));
    }
    let now = rustix::fs::fcntl_getfl(&file).map_err(|e| named(path, e.into()))?;
    rustix::fs::fcntl_setfl(&file, now - OFlags::NONBLOCK).map_err(|e| named(path, e.into()))?;
    Ok(Output {
        file,
        path: path.to_path_buf(),
        device: true,
    })
}

fn exists(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "{}: already exists (fantop never overwrites a file: remove it or give another name)",
            path.display()
        ),
    )
}

fn not_writable(path: &Path, m: &Metadata) -> io::Error {
    let t = m.file_type();
    let what = if t.is_fifo() {
        "a FIFO"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    };
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{}: is {what}; fantop writes to a new regular file, a terminal or a character device such as /dev/null",
            path.display()
        ),
    )
}

/// An I/O error in words, without Rust's `(os error N)` suffix.
pub fn describe(e: &io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) if s.ends_with(')') => s[..i].to_string(),
        _ => s,
    }
}

/// The error with the file's name in front: `rec.jsonl: No space left on
/// device`. An error already naming it is left as it is.
pub fn named(path: &Path, e: io::Error) -> io::Error {
    let name = path.display().to_string();
    let text = describe(&e);
    if text.starts_with(&format!("{name}: ")) {
        return io::Error::new(e.kind(), text);
    }
    io::Error::new(e.kind(), format!("{name}: {text}"))
}

/// Why a run's files cannot be what the flags say.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// An output is an input or another output: a usage error (exit 2),
    /// naming both flags.
    Usage(String),
    /// An output cannot be created (it exists, it is a FIFO, its directory
    /// is missing): one line naming the file.
    File(String),
}

/// Checks a run's files before it starts: no output (`(flag, path)`) is an
/// input or another output, and each output can be created
/// ([`check_new`]). Outputs are written with [`Naming::Given`].
pub fn check(inputs: &[(&str, &Path)], outputs: &[(&str, &Path)]) -> Result<(), Refused> {
    for (i, (flag, path)) in outputs.iter().enumerate() {
        if path.as_os_str().is_empty() {
            return Err(Refused::Usage(format!("{flag} needs a file name")));
        }
        if is_device(path) {
            // Written in place, clobbering nothing: `/dev/null` may take
            // every output.
            continue;
        }
        if let Some((in_flag, _)) = inputs.iter().find(|(_, p)| same_file(p, path)) {
            return Err(Refused::Usage(format!(
                "{flag} {} is the {in_flag} file: an output never overwrites an input",
                path.display()
            )));
        }
        if let Some((other, _)) = outputs[..i].iter().find(|(_, p)| same_file(p, path)) {
            return Err(Refused::Usage(format!(
                "{other} and {flag} name the same file ({}): each output needs its own",
                path.display()
            )));
        }
    }
    for (_, path) in outputs {
        check_new(path).map_err(|e| Refused::File(e.to_string()))?;
    }
    Ok(())
}

fn is_device(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_char_device())
}

/// Whether two paths name the same file: the same device and inode when
/// both exist, else the same place once each parent directory is resolved
/// (`./x`, `x` and `dir/../x` are one file; a symlinked directory is
/// followed).
pub fn same_file(a: &Path, b: &Path) -> bool {
    if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) {
        return ma.dev() == mb.dev() && ma.ino() == mb.ino();
    }
    resolved(a) == resolved(b)
}

/// The absolute place `p` names: its resolved parent directory and its file
/// name (or, when the parent does not exist, the path made absolute with
/// `.` and `..` folded away).
fn resolved(p: &Path) -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_default();
    let abs = lexical(&cwd.join(p));
    match (abs.parent(), abs.file_name()) {
        (Some(dir), Some(name)) => dir.canonicalize().map_or(abs.clone(), |d| d.join(name)),
        _ => abs,
    }
}

fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("fantop-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A name fantop chose is the first free one of `NAME`, `NAME-2`, …;
    /// a name the user gave is created there or refused, naming it.
    #[test]
    fn a_chosen_name_takes_the_next_free_one_and_a_given_name_is_never_reused() {
        let dir = temp_dir("names");
        let base = dir.join("r.jsonl");
        let taken: Vec<PathBuf> = (0..3).map(|_| open(&base, Naming::Chosen).unwrap().path).collect();
        assert_eq!(taken, [base.clone(), dir.join("r-2.jsonl"), dir.join("r-3.jsonl")]);
        let e = open(&base, Naming::Given).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}: already exists", base.display())), "{e}");
        let fresh = dir.join("new.jsonl");
        assert_eq!(open(&fresh, Naming::Given).unwrap().path, fresh);
        std::fs::remove_dir_all(&dir).ok();
    }

    /// Two threads racing for the same chosen name each get their own
    /// file; racing for the same given name, exactly one wins.
    #[test]
    fn concurrent_opens_never_share_a_file() {
        let dir = temp_dir("race");
        let base = dir.join("r.jsonl");
        let chosen: Vec<PathBuf> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|_| s.spawn(|| open(&base, Naming::Chosen).unwrap().path))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut unique = chosen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 8, "{chosen:?}");
        let given = dir.join("g.jsonl");
        let wins = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|_| s.spawn(|| open(&given, Naming::Given).is_ok()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).filter(|&ok| ok).count()
        });
        assert_eq!(wins, 1);
        std::fs::remove_dir_all(&dir).ok();
    }

    /// Devices are written in place; directories and FIFOs are refused by
    /// name, without waiting for a reader.
    #[test]
    fn non_regular_targets_other_than_devices_are_refused_without_blocking() {
        let dev = open(Path::new("/dev/null"), Naming::Given).unwrap();
        assert!(dev.device);
        assert!(open(Path::new("/dev/null"), Naming::Chosen).unwrap().device);
        let dir = temp_dir("kinds");
        let e = open(&dir, Naming::Given).unwrap_err().to_string();
        assert!(e.contains("is a directory"), "{e}");
        let fifo = dir.join("p");
        if std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .is_ok_and(|s| s.success())
        {
            for naming in [Naming::Given, Naming::Chosen] {
                let e = open(&fifo, naming).unwrap_err().to_string();
                assert!(e.starts_with(&format!("{}: is a FIFO", fifo.display())), "{e}");
            }
            assert!(check_new(&fifo).is_err());
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    /// `./x`, `x`, `d/../x` and a hard link are the same file; two new
    /// names in one directory are not.
    #[test]
    fn the_same_file_is_recognised_however_it_is_spelled() {
        let dir = temp_dir("same");
        let x = dir.join("x");
        assert!(same_file(&x, &dir.join(".").join("x")));
        assert!(same_file(&x, &dir.join("sub").join("..").join("x")));
        assert!(!same_file(&x, &dir.join("y")));
        std::fs::write(&x, "").unwrap();
        std::fs::hard_link(&x, dir.join("link")).unwrap();
        assert!(same_file(&x, &dir.join("link")));
        assert!(!same_file(&x, &dir.join("y")));
        std::fs::remove_dir_all(&dir).ok();
    }

    /// The check names both flags of a clash, in the order given, and
    /// refuses an output that exists or has no name.
    #[test]
    fn the_check_names_both_flags_of_a_clash() {
        let dir = temp_dir("check");
        let m = dir.join("m.toml");
        std::fs::write(&m, "").unwrap();
        let spelled = dir.join(".").join("m.toml");
        let new = dir.join("new.jsonl");
        let refused = |inputs: &[(&str, &Path)], outputs: &[(&str, &Path)]| check(inputs, outputs).unwrap_err();
        match refused(&[("--scenario", &m)], &[("--record", &spelled)]) {
            Refused::Usage(msg) => assert!(
                msg.starts_with("--record ") && msg.contains("the --scenario file"),
                "{msg}"
            ),
            other => panic!("{other:?}"),
        }
        match refused(&[], &[("--cast", &new), ("--record", &new)]) {
            Refused::Usage(msg) => assert!(msg.starts_with("--cast and --record name the same file"), "{msg}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(refused(&[], &[("--record", &m)]), Refused::File(msg) if msg.contains("already exists")));
        assert!(matches!(
            refused(&[], &[("--record", Path::new(""))]),
            Refused::Usage(_)
        ));
        let null = Path::new("/dev/null");
        assert_eq!(
            check(&[], &[("--cast", null), ("--record", null), ("--x", &new)]),
            Ok(())
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn io_errors_name_the_file_once_without_the_os_error_number() {
        let e = io::Error::from_raw_os_error(28);
        let n = named(Path::new("rec.jsonl"), e);
        assert_eq!(n.to_string(), "rec.jsonl: No space left on device");
        assert_eq!(
            named(Path::new("rec.jsonl"), n).to_string(),
            "rec.jsonl: No space left on device"
        );
    }
}
