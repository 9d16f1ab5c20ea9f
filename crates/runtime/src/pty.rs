//! Terminals for commands run under runc: Berth makes a terminal, gives its slave to
//! `runc exec --tty` as its standard input and output (runc makes the environment's own terminal
//! and carries between the two), and reads and writes the master; a window size is set on the
//! master and runc told with SIGWINCH, on which it resizes the one inside.

use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt as _;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::{Output, RuntimeError, Stdin};

/// A new terminal: its master (Berth's end) and its slave (given to `runc exec --tty` as its
/// standard input and output; runc then carries it to a terminal of its own inside).
pub(crate) fn open_pair() -> Result<(OwnedFd, std::fs::File), RuntimeError> {
    let make = || -> std::io::Result<(OwnedFd, std::fs::File)> {
        use rustix::pty::OpenptFlags;
        let master =
            rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
        rustix::pty::grantpt(&master)?;
        rustix::pty::unlockpt(&master)?;
        let name = rustix::pty::ptsname(&master, Vec::new())?;
        let path = std::path::PathBuf::from(std::ffi::OsStr::from_bytes(name.as_bytes()));
        use std::os::unix::fs::OpenOptionsExt as _;
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc_noctty())
            .open(path)?;
        Ok((master, slave))
    };
    make().map_err(RuntimeError::io("cannot make a terminal"))
}

/// `O_NOCTTY`: opening the slave does not make it Berth's own controlling terminal.
fn libc_noctty() -> i32 {
    rustix::fs::OFlags::NOCTTY.bits() as i32
}

/// Sets the terminal's window size.
pub(crate) fn resize(master: &OwnedFd, (cols, rows): (u16, u16)) {
    let _ = rustix::termios::tcsetwinsize(
        master,
        rustix::termios::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        },
    );
}

/// Carries the terminal: `stdin` into it, what it shows out as standard output, window sizes
/// from `size`, until the command's side closes.
pub(crate) async fn carry(
    master: OwnedFd,
    stdin: Stdin,
    mut size: tokio::sync::watch::Receiver<(u16, u16)>,
    resized: impl Fn() + Send + 'static,
    output: tokio::sync::mpsc::Sender<Output>,
) -> Result<(), RuntimeError> {
    let copy = master
        .try_clone()
        .map_err(RuntimeError::io("cannot use the terminal"))?;
    let sizing = master
        .try_clone()
        .map_err(RuntimeError::io("cannot use the terminal"))?;
    resize(&sizing, *size.borrow_and_update());
    let resizer = tokio::spawn(async move {
        while size.changed().await.is_ok() {
            resize(&sizing, *size.borrow_and_update());
            resized();
        }
    });
    let writer = tokio::fs::File::from_std(std::fs::File::from(copy));
    let feeder = tokio::spawn(feed_terminal(stdin, writer));
    let mut reader = tokio::fs::File::from_std(std::fs::File::from(master));
    let mut buf = vec![0u8; 16 * 1024];
    let mut listening = true;
    loop {
        match reader.read(&mut buf).await {
            // The master reads EIO once the command's side is closed: the end.
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if listening
                    && output
                        .send(Output::Stdout(buf[..n].to_vec()))
                        .await
                        .is_err()
                {
                    listening = false;
                }
            }
        }
    }
    resizer.abort();
    feeder.abort();
    Ok(())
}

/// Writes what arrives into the terminal. End of input is not a close (the terminal stays).
async fn feed_terminal(stdin: Stdin, mut writer: tokio::fs::File) {
    match stdin {
        Stdin::None => {}
        Stdin::Bytes(bytes) => {
            let _ = writer.write_all(&bytes).await;
            let _ = writer.flush().await;
        }
        Stdin::Stream(mut rx) => {
            while let Some(chunk) = rx.recv().await {
                if writer.write_all(&chunk).await.is_err() || writer.flush().await.is_err() {
                    break;
                }
            }
        }
    }
}
