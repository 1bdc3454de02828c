//! Exporting traces: a JSON document (metrics and entries) or JSON Lines, always written
//! through a temporary file and a rename so a reader never sees half a file (a device or a
//! pipe, such as `/dev/stdout`, is written in place).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::entry::TraceEntry;
use crate::error::{Error, Result};
use crate::metrics::TracerMetrics;
use crate::record::tracer::ExecutionTracer;

/// The version of the export document this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// The JSON document written by [`ExecutionTracer::export_traces`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceExport {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// When the export was written, in nanoseconds since the Unix epoch.
    pub exported_at_unix_nano: u64,
    /// The tracer's aggregate metrics at export time.
    pub metrics: TracerMetrics,
    /// The retained entries, oldest first.
    pub traces: Vec<TraceEntry>,
}

impl TraceExport {
    /// Reads a document written by [`ExecutionTracer::export_traces`].
    pub fn read(path: impl AsRef<Path>) -> Result<TraceExport> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| Error::Load {
            path: path.to_owned(),
            source,
        })?;
        let export: TraceExport = serde_json::from_reader(std::io::BufReader::new(file))?;
        if export.schema_version > SCHEMA_VERSION {
            return Err(Error::SchemaVersion {
                found: export.schema_version,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(export)
    }
}

/// `true` for an empty file or one whose last byte is a newline.
fn ends_with_newline(file: &mut File) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let mut last = [0u8; 1];
    match file.seek(SeekFrom::End(-1)) {
        Ok(_) => file.read_exact(&mut last).is_err() || last[0] == b'\n',
        Err(_) => true,
    }
}

fn now_unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Writes `path` atomically: into a temporary file beside it, then a rename. On any error
/// the temporary file is removed and an existing `path` is untouched.
///
/// A symbolic link is followed, so the file it points to is replaced, not the link. A path
/// that is not a regular file (`/dev/stdout`, a named pipe) is written in place: renaming a
/// file over a device would replace the device itself.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<&File>) -> Result<()>,
) -> Result<()> {
    let export_error = |source| Error::Export {
        path: path.to_owned(),
        source,
    };
    let target = follow_links(path);
    if std::fs::metadata(&target).is_ok_and(|meta| !meta.is_file() && !meta.is_dir()) {
        let file = OpenOptions::new()
            .write(true)
            .open(&target)
            .map_err(export_error)?;
        let mut writer = BufWriter::new(&file);
        write(&mut writer)?;
        return writer.flush().map_err(export_error);
    }
    let directory = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".monitor-export-");
    // An export is an ordinary file: the permissions `File::create` would give (0666 less
    // the umask), not the private 0600 of a temporary file, which the rename would keep.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let temporary = builder.tempfile_in(&directory).map_err(export_error)?;
    {
        let mut writer = BufWriter::new(temporary.as_file());
        write(&mut writer)?;
        writer.flush().map_err(export_error)?;
    }
    temporary.as_file().sync_all().map_err(export_error)?;
    temporary
        .persist(&target)
        .map_err(|e| export_error(e.error))?;
    Ok(())
}

/// The path a chain of symbolic links at `path` ends at (which may not exist yet), or
/// `path` itself. A cycle or an unreadable link stops the walk where it is.
fn follow_links(path: &Path) -> PathBuf {
    // As many hops as Linux follows before it reports a loop.
    const MAX_HOPS: usize = 40;
    let mut current = path.to_owned();
    for _ in 0..MAX_HOPS {
        // Fails for a path that is not a link (or does not exist): the end of the chain.
        let Ok(link) = std::fs::read_link(&current) else {
            return current;
        };
        current = match current.parent() {
            Some(parent) if link.is_relative() => parent.join(link),
            _ => link,
        };
    }
    current
}

fn write_lines(writer: &mut impl Write, entries: &[TraceEntry], path: &Path) -> Result<()> {
    for entry in entries {
        serde_json::to_writer(&mut *writer, entry)?;
        writer.write_all(b"\n").map_err(|source| Error::Export {
            path: path.to_owned(),
            source,
        })?;
    }
    Ok(())
}

impl ExecutionTracer {
    /// Writes the metrics and every retained entry to `path` as one JSON document
    /// ([`TraceExport`]), atomically: a failed export leaves any existing file intact.
    /// Returns how many entries were written.
    pub fn export_traces(&self, path: impl AsRef<Path>) -> Result<usize> {
        let path = path.as_ref();
        let export = TraceExport {
            schema_version: SCHEMA_VERSION,
            exported_at_unix_nano: now_unix_nanos(),
            metrics: self.get_metrics(),
            traces: self.get_traces(None),
        };
        write_atomically(path, |writer| {
            Ok(serde_json::to_writer_pretty(writer, &export)?)
        })?;
        Ok(export.traces.len())
    }

    /// Writes every retained entry to `path` as JSON Lines (one entry per line),
    /// atomically. Returns how many entries were written.
    pub fn export_traces_jsonl(&self, path: impl AsRef<Path>) -> Result<usize> {
        let path = path.as_ref();
        let entries = self.get_traces(None);
        write_atomically(path, |writer| write_lines(writer, &entries, path))?;
        Ok(entries.len())
    }

    /// For periodic dumps of long-running processes: appends every retained entry to
    /// `path` as JSON Lines, then removes those entries from memory (the metrics keep
    /// counting them). If the write fails nothing is removed, so the next dump retries.
    /// Dumps from several threads at once take turns, so each entry is written once.
    /// Returns how many entries were written.
    pub fn dump_traces_jsonl(&self, path: impl AsRef<Path>) -> Result<usize> {
        let path = path.as_ref();
        let _dumping = self.one_dump_at_a_time();
        let (entries, mark) = self.snapshot_traces();
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .map_err(|source| Error::Export {
                path: path.to_owned(),
                source,
            })?;
        // One buffer and one write, so a failure part-way rarely leaves a partial line; and
        // a line a crash left unfinished is ended first, so it cannot swallow the next one.
        let mut buffer = Vec::new();
        if !ends_with_newline(&mut file) {
            buffer.push(b'\n');
        }
        write_lines(&mut buffer, &entries, path)?;
        file.write_all(&buffer)
            .and_then(|()| file.sync_data())
            .map_err(|source| Error::Export {
                path: path.to_owned(),
                source,
            })?;
        self.remove_traces_before(&mark);
        Ok(entries.len())
    }
}

/// Reads a JSON Lines file written by [`ExecutionTracer::export_traces_jsonl`] or
/// [`ExecutionTracer::dump_traces_jsonl`].
///
/// A line cut short (a process killed while appending, a full disk) is skipped with a
/// warning, so the entries around it are not lost. Any other line that is not an entry is
/// an error naming the line.
pub fn read_traces_jsonl(path: impl AsRef<Path>) -> Result<Vec<TraceEntry>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| Error::Load {
        path: path.to_owned(),
        source,
    })?;
    let mut entries = Vec::new();
    for (index, line) in bytes.split(|&byte| byte == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<TraceEntry>(line) {
            Ok(entry) => entries.push(entry),
            Err(error) if error.is_eof() || std::str::from_utf8(line).is_err() => {
                crate::record::subscriber::emit!(tracing::warn!(
                    target: "monitor",
                    path = %path.display(),
                    line = index + 1,
                    "skipping a trace line that was cut short"
                ));
            }
            Err(source) => {
                return Err(Error::CorruptLine {
                    path: path.to_owned(),
                    line: index + 1,
                    source,
                })
            }
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_failing_part_way_leaves_the_existing_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("traces.json");
        std::fs::write(&path, "previous export").unwrap();

        let result = write_atomically(&path, |writer| {
            writer.write_all(b"{\"half\": ").unwrap();
            Err(Error::Export {
                path: path.clone(),
                source: std::io::Error::other("disk full"),
            })
        });

        assert!(result.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "previous export");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [std::ffi::OsString::from("traces.json")]);
    }
}
