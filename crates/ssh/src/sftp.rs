//! The `sftp` subsystem, served by Berth itself (images need no sftp server): each operation
//! runs inside the environment as its user through the environments service — small shell
//! commands for metadata, one streamed `cat` per open file — so files land owned by that user and
//! every path is resolved inside the environment, never on the host. `scp` (which speaks sftp
//! since OpenSSH 9) and `sftp` work on any image with a POSIX shell and `stat`, `cat`, `mkdir`,
//! `rm`, `mv`, `chmod` (busybox has them).
//!
//! Reads and writes are sequential per open file (what `scp` and `sftp get/put` do); a request
//! at another offset is refused as unsupported.

use std::collections::HashMap;

use berth_service::environments::{ExecSpec, Output, Stdin};
use berth_service::{Berth, Principal};
use russh_sftp::protocol::{
    Attrs, Data, File, FileAttributes, Handle, Name, OpenFlags, Status, StatusCode, Version,
};
use russh_sftp::server::StatusReply;
use tokio::sync::mpsc;

/// The most a metadata command's output may hold (a directory listing, a stat).
const MAX_OUTPUT: usize = 16 << 20;

/// The most files and directories one sftp session holds open.
const MAX_OPEN: usize = 64;

/// What a failed operation answers: the status, and what the command inside said.
fn failure(code: i32, stderr: &[u8]) -> StatusReply {
    let said = String::from_utf8_lossy(stderr).trim().to_owned();
    let status = if said.contains("No such file") {
        StatusCode::NoSuchFile
    } else if said.contains("Permission denied") {
        StatusCode::PermissionDenied
    } else {
        StatusCode::Failure
    };
    let message = if said.is_empty() {
        format!("the operation failed (exit {code})")
    } else {
        said
    };
    StatusReply::new(status).with_message(message)
}

fn ok(id: u32) -> Status {
    Status {
        id,
        status_code: StatusCode::Ok,
        error_message: "Ok".into(),
        language_tag: "en-US".into(),
    }
}

/// One `stat -c '%s %f %u %g %X %Y %n'` line as attributes and a name.
fn parse_stat(line: &str) -> Option<(FileAttributes, String)> {
    let mut fields = line.splitn(7, ' ');
    let size = fields.next()?.parse().ok()?;
    let mode = u32::from_str_radix(fields.next()?, 16).ok()?;
    let uid = fields.next()?.parse().ok()?;
    let gid = fields.next()?.parse().ok()?;
    let atime = fields.next()?.parse().ok()?;
    let mtime = fields.next()?.parse().ok()?;
    let name = fields.next().unwrap_or_default().to_owned();
    let attrs = FileAttributes {
        size: Some(size),
        uid: Some(uid),
        user: None,
        gid: Some(gid),
        group: None,
        permissions: Some(mode),
        atime: Some(atime),
        mtime: Some(mtime),
    };
    Some((attrs, name))
}

/// An open file or directory.
#[derive(Debug)]
enum Open {
    Dir { path: String, listed: bool },
    Read(Reading),
    Write(Writing),
}

/// The error for a handle that is not a file open for `reading` or `writing`.
fn not_open_for(what: &str) -> StatusReply {
    StatusReply::new(StatusCode::Failure).with_message(format!("not a file open for {what}"))
}

/// Refuses a `verb` (read or write) at `offset` other than `at`, where the last one ended: files
/// are streamed through `cat`, from their start.
fn in_order(at: u64, offset: u64, verb: &str) -> Result<(), StatusReply> {
    if offset == at {
        return Ok(());
    }
    Err(
        StatusReply::new(StatusCode::OpUnsupported).with_message(format!(
            "{verb}s are sequential here; {verb} the file from its start"
        )),
    )
}

/// A file being read: its `cat`'s output as it comes, and where the reader is.
#[derive(Debug)]
struct Reading {
    path: String,
    output: mpsc::Receiver<Output>,
    buffer: Vec<u8>,
    offset: u64,
    done: bool,
}

/// A file being written: its `cat >`'s standard input, and how much went in.
#[derive(Debug)]
struct Writing {
    path: String,
    stdin: Option<mpsc::Sender<Vec<u8>>>,
    finished: tokio::task::JoinHandle<(i32, Vec<u8>)>,
    offset: u64,
    /// Attributes set on the open file: applied once what was written is in it (at close).
    pending: Option<FileAttributes>,
}

/// An sftp session in one environment, as one user.
#[derive(Debug)]
pub(crate) struct Session {
    berth: Berth,
    principal: Principal,
    environment: String,
    open: HashMap<String, Open>,
    next: u64,
}

impl Session {
    pub(crate) fn new(berth: Berth, principal: Principal, environment: String) -> Self {
        Self {
            berth,
            principal,
            environment,
            open: HashMap::new(),
            next: 0,
        }
    }

    /// Runs `script` (with `args` as `$1`, `$2`…) inside; its exit code, stdout and stderr.
    async fn sh(
        &self,
        script: &str,
        args: &[&str],
    ) -> Result<(i32, Vec<u8>, Vec<u8>), StatusReply> {
        let (tx, mut rx) = mpsc::channel::<Output>(64);
        let exec = ExecSpec {
            argv: shell_argv(script, args),
            stdin: Stdin::None,
            env: Vec::new(),
            tty: None,
            signals: None,
        };
        let environments = self.berth.environments().clone();
        let run = environments.exec_codespace(&self.principal, &self.environment, exec, tx);
        // What a metadata command prints is kept up to a bound (a directory listing of millions
        // of entries is refused, not held whole); the rest is read and dropped.
        let collect = async {
            let (mut out, mut err, mut over) = (Vec::new(), Vec::new(), false);
            while let Some(chunk) = rx.recv().await {
                let (into, b) = match chunk {
                    Output::Stdout(b) => (&mut out, b),
                    Output::Stderr(b) => (&mut err, b),
                };
                if into.len() + b.len() > MAX_OUTPUT {
                    over = true;
                } else {
                    into.extend(b);
                }
            }
            (out, err, over)
        };
        let (result, (out, err, over)) = tokio::join!(run, collect);
        let code = result
            .map_err(|e| StatusReply::new(StatusCode::Failure).with_message(e.to_string()))?;
        if over {
            return Err(StatusReply::new(StatusCode::Failure).with_message(format!(
                "the answer is larger than {} MiB; list a smaller directory",
                MAX_OUTPUT >> 20
            )));
        }
        Ok((code, out, err))
    }

    /// Runs `script` and insists it succeeds; its stdout.
    async fn sh_ok(&self, script: &str, args: &[&str]) -> Result<Vec<u8>, StatusReply> {
        let (code, out, err) = self.sh(script, args).await?;
        if code != 0 {
            return Err(failure(code, &err));
        }
        Ok(out)
    }

    async fn stat(&self, path: &str, follow: bool) -> Result<FileAttributes, StatusReply> {
        let script = if follow {
            r#"stat -L -c '%s %f %u %g %X %Y %n' -- "$1""#
        } else {
            r#"stat -c '%s %f %u %g %X %Y %n' -- "$1""#
        };
        let out = self.sh_ok(script, &[path]).await?;
        let text = String::from_utf8_lossy(&out);
        parse_stat(text.trim_end_matches('\n'))
            .map(|(attrs, _)| attrs)
            .ok_or_else(|| {
                StatusReply::new(StatusCode::Failure).with_message("stat printed nothing")
            })
    }

    fn handle(&mut self, open: Open) -> Result<String, StatusReply> {
        if self.open.len() >= MAX_OPEN {
            return Err(StatusReply::new(StatusCode::Failure)
                .with_message(format!("at most {MAX_OPEN} files are open at once")));
        }
        self.next += 1;
        let handle = self.next.to_string();
        self.open.insert(handle.clone(), open);
        Ok(handle)
    }

    fn path_of(&self, handle: &str) -> Result<String, StatusReply> {
        match self.open.get(handle) {
            Some(Open::Dir { path, .. }) => Ok(path.clone()),
            Some(Open::Read(r)) => Ok(r.path.clone()),
            Some(Open::Write(w)) => Ok(w.path.clone()),
            None => Err(StatusReply::new(StatusCode::Failure).with_message("no such handle")),
        }
    }

    /// Starts a streamed command on `path`: `cat` (reading) or `cat >`/`>>` (writing).
    fn stream(
        &self,
        script: &str,
        path: &str,
        stdin: Stdin,
    ) -> (mpsc::Receiver<Output>, tokio::task::JoinHandle<i32>) {
        let (tx, rx) = mpsc::channel::<Output>(16);
        let exec = ExecSpec {
            argv: shell_argv(script, &[path]),
            stdin,
            env: Vec::new(),
            tty: None,
            signals: None,
        };
        let environments = self.berth.environments().clone();
        let principal = self.principal.clone();
        let environment = self.environment.clone();
        let task = tokio::spawn(async move {
            environments
                .exec_codespace(&principal, &environment, exec, tx)
                .await
                .unwrap_or(255)
        });
        (rx, task)
    }
}

/// `sh -c SCRIPT sh ARGS…`: the arguments reach the script as `$1`… untouched by any shell.
fn shell_argv(script: &str, args: &[&str]) -> Vec<String> {
    let mut argv = vec![
        "/bin/sh".to_owned(),
        "-c".to_owned(),
        script.to_owned(),
        "sh".to_owned(),
    ];
    argv.extend(args.iter().map(|a| (*a).to_owned()));
    argv
}

impl russh_sftp::server::Handler for Session {
    type Error = StatusReply;

    fn unimplemented(&self) -> Self::Error {
        StatusReply::new(StatusCode::OpUnsupported)
    }

    async fn init(
        &mut self,
        _version: u32,
        _extensions: HashMap<String, String>,
    ) -> Result<Version, Self::Error> {
        Ok(Version::new())
    }

    async fn realpath(&mut self, id: u32, path: String) -> Result<Name, Self::Error> {
        let path = if path.is_empty() {
            ".".to_owned()
        } else {
            path
        };
        let script = r#"if [ -d "$1" ]; then cd -- "$1" && pwd -P; else d=$(dirname -- "$1"); b=$(basename -- "$1"); cd -- "$d" 2>/dev/null && printf '%s/%s\n' "$(pwd -P)" "$b" | sed 's#^//#/#'; fi"#;
        let out = self.sh_ok(script, &[&path]).await?;
        let real = String::from_utf8_lossy(&out)
            .trim_end_matches('\n')
            .to_owned();
        Ok(Name {
            id,
            files: vec![File::dummy(real)],
        })
    }

    async fn stat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        let attrs = Session::stat(self, &path, true).await?;
        Ok(Attrs { id, attrs })
    }

    async fn lstat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        let attrs = Session::stat(self, &path, false).await?;
        Ok(Attrs { id, attrs })
    }

    async fn fstat(&mut self, id: u32, handle: String) -> Result<Attrs, Self::Error> {
        let path = self.path_of(&handle)?;
        let attrs = Session::stat(self, &path, true).await?;
        Ok(Attrs { id, attrs })
    }

    async fn opendir(&mut self, id: u32, path: String) -> Result<Handle, Self::Error> {
        self.sh_ok(
            r#"test -d "$1" || { echo "$1: No such file or directory" >&2; exit 1; }"#,
            &[&path],
        )
        .await?;
        let handle = self.handle(Open::Dir {
            path,
            listed: false,
        })?;
        Ok(Handle { id, handle })
    }

    async fn readdir(&mut self, id: u32, handle: String) -> Result<Name, Self::Error> {
        let path = match self.open.get_mut(&handle) {
            Some(Open::Dir { listed: true, .. }) => return Err(StatusReply::new(StatusCode::Eof)),
            Some(Open::Dir { path, listed }) => {
                *listed = true;
                path.clone()
            }
            _ => {
                return Err(
                    StatusReply::new(StatusCode::Failure).with_message("not a directory handle")
                );
            }
        };
        let script = r#"cd -- "$1" && for f in .* *; do { [ -e "$f" ] || [ -L "$f" ]; } && stat -c '%s %f %u %g %X %Y %n' -- "$f"; done; true"#;
        let out = self.sh_ok(script, &[&path]).await?;
        let files = String::from_utf8_lossy(&out)
            .lines()
            .filter_map(parse_stat)
            .map(|(attrs, filename)| File {
                longname: filename.clone(),
                filename,
                attrs,
            })
            .collect();
        Ok(Name { id, files })
    }

    async fn open(
        &mut self,
        id: u32,
        filename: String,
        pflags: OpenFlags,
        _attrs: FileAttributes,
    ) -> Result<Handle, Self::Error> {
        let open = if pflags.contains(OpenFlags::WRITE) {
            let script =
                if pflags.contains(OpenFlags::APPEND) || !pflags.contains(OpenFlags::TRUNCATE) {
                    r#"cat >> "$1""#
                } else {
                    r#"cat > "$1""#
                };
            if pflags.contains(OpenFlags::EXCLUDE) {
                self.sh_ok(
                    r#"! test -e "$1" || { echo "$1: File exists" >&2; exit 1; }"#,
                    &[&filename],
                )
                .await?;
            }
            // Created (or truncated) now, so that the open fails as `open` would.
            self.sh_ok(
                if script.contains(">>") {
                    r#": >> "$1""#
                } else {
                    r#": > "$1""#
                },
                &[&filename],
            )
            .await?;
            let (tx, rx) = mpsc::channel::<Vec<u8>>(16);
            let (mut output, task) = self.stream(r#"cat >> "$1""#, &filename, Stdin::Stream(rx));
            let finished = tokio::spawn(async move {
                let mut err = Vec::new();
                while let Some(chunk) = output.recv().await {
                    if let Output::Stderr(b) = chunk {
                        err.extend(b);
                    }
                }
                (task.await.unwrap_or(255), err)
            });
            Open::Write(Writing {
                path: filename,
                stdin: Some(tx),
                finished,
                offset: 0,
                pending: None,
            })
        } else {
            self.sh_ok(r#"test -r "$1" || { test -e "$1" && echo "$1: Permission denied" >&2 || echo "$1: No such file or directory" >&2; exit 1; }"#, &[&filename])
                .await?;
            let (output, _task) = self.stream(r#"exec cat -- "$1""#, &filename, Stdin::None);
            Open::Read(Reading {
                path: filename,
                output,
                buffer: Vec::new(),
                offset: 0,
                done: false,
            })
        };
        let handle = self.handle(open)?;
        Ok(Handle { id, handle })
    }

    async fn read(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        len: u32,
    ) -> Result<Data, Self::Error> {
        let Some(Open::Read(r)) = self.open.get_mut(&handle) else {
            return Err(not_open_for("reading"));
        };
        in_order(r.offset, offset, "read")?;
        let want = usize::try_from(len).unwrap_or(usize::MAX).min(256 << 10);
        while r.buffer.len() < want && !r.done {
            match r.output.recv().await {
                Some(Output::Stdout(b)) => r.buffer.extend(b),
                Some(Output::Stderr(_)) => {}
                None => r.done = true,
            }
        }
        if r.buffer.is_empty() {
            return Err(StatusReply::new(StatusCode::Eof));
        }
        let n = want.min(r.buffer.len());
        let data: Vec<u8> = r.buffer.drain(..n).collect();
        r.offset += data.len() as u64;
        Ok(Data { id, data })
    }

    async fn write(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        data: Vec<u8>,
    ) -> Result<Status, Self::Error> {
        let Some(Open::Write(w)) = self.open.get_mut(&handle) else {
            return Err(not_open_for("writing"));
        };
        in_order(w.offset, offset, "write")?;
        w.offset += data.len() as u64;
        let sent = match &w.stdin {
            Some(tx) => tx.send(data).await.is_ok(),
            None => false,
        };
        if !sent {
            return Err(
                StatusReply::new(StatusCode::Failure).with_message("the file's writer ended")
            );
        }
        Ok(ok(id))
    }

    async fn close(&mut self, id: u32, handle: String) -> Result<Status, Self::Error> {
        match self.open.remove(&handle) {
            Some(Open::Write(mut w)) => {
                w.stdin = None;
                let (code, err) = w
                    .finished
                    .await
                    .unwrap_or((255, b"the writer was lost".to_vec()));
                if code != 0 {
                    return Err(failure(code, &err));
                }
                if let Some(attrs) = w.pending {
                    self.setstat(id, w.path, attrs).await?;
                }
                Ok(ok(id))
            }
            Some(_) => Ok(ok(id)),
            None => Err(StatusReply::new(StatusCode::Failure).with_message("no such handle")),
        }
    }

    async fn mkdir(
        &mut self,
        id: u32,
        path: String,
        _attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        self.sh_ok(r#"mkdir -- "$1""#, &[&path]).await?;
        Ok(ok(id))
    }

    async fn rmdir(&mut self, id: u32, path: String) -> Result<Status, Self::Error> {
        self.sh_ok(r#"rmdir -- "$1""#, &[&path]).await?;
        Ok(ok(id))
    }

    async fn remove(&mut self, id: u32, filename: String) -> Result<Status, Self::Error> {
        self.sh_ok(r#"test ! -d "$1" && rm -- "$1""#, &[&filename])
            .await?;
        Ok(ok(id))
    }

    async fn rename(
        &mut self,
        id: u32,
        oldpath: String,
        newpath: String,
    ) -> Result<Status, Self::Error> {
        self.sh_ok(r#"mv -- "$1" "$2""#, &[&oldpath, &newpath])
            .await?;
        Ok(ok(id))
    }

    async fn setstat(
        &mut self,
        id: u32,
        path: String,
        attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        if let Some(size) = attrs.size {
            // Only a size that differs is set (scp sets the size it wrote), with `truncate`.
            let script = r#"[ "$(stat -c %s -- "$1")" = "$2" ] || truncate -s "$2" -- "$1""#;
            self.sh_ok(script, &[&path, &size.to_string()]).await?;
        }
        if let Some(mode) = attrs.permissions {
            let mode = format!("{:o}", mode & 0o7777);
            self.sh_ok(r#"chmod -- "$2" "$1""#, &[&path, &mode]).await?;
        }
        Ok(ok(id))
    }

    async fn fsetstat(
        &mut self,
        id: u32,
        handle: String,
        attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        // A file being written is still being written: its attributes wait for its close.
        if let Some(Open::Write(w)) = self.open.get_mut(&handle) {
            w.pending = Some(attrs);
            return Ok(ok(id));
        }
        let path = self.path_of(&handle)?;
        self.setstat(id, path, attrs).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn stat_lines_become_attributes() {
        let (attrs, name) =
            super::parse_stat("42 81a4 1000 1000 1700000000 1700000001 a file.txt").unwrap();
        assert_eq!(
            (
                attrs.size,
                attrs.permissions,
                attrs.uid,
                attrs.mtime,
                name.as_str()
            ),
            (
                Some(42),
                Some(0o100644),
                Some(1000),
                Some(1_700_000_001),
                "a file.txt"
            )
        );
        assert!(super::parse_stat("garbage").is_none());
    }

    #[test]
    fn arguments_reach_the_script_untouched() {
        assert_eq!(
            super::shell_argv(r#"cat -- "$1""#, &["a b; rm -rf /"]),
            ["/bin/sh", "-c", r#"cat -- "$1""#, "sh", "a b; rm -rf /"]
        );
    }
}
