//! Child processes that end together with everything they started. A launcher script (a pyenv shim, a wrapper)
//! runs the real program as a grandchild, which killing the child alone would leave running. So a child started
//! here runs in a process group of its own, and the whole group is killed:
//! - by [`GroupChild::kill`] (a timeout) and when a [`GroupChild`] is dropped unreaped (an error, a panic);
//! - when the child exits, for whatever it left behind, before the child is reaped (until then its pid, the
//!   group's id, cannot be reused by another process);
//! - when this process exits (an `atexit` handler): returning from `main`, or `std::process::exit`, which is how
//!   `bertscore` ends on SIGINT, SIGTERM or SIGHUP (its signal thread, `crates/cli/src/temp_files.rs`).
//!
//! Being in its own group, the child no longer gets the terminal's Ctrl-C itself; a process that dies of a signal
//! it does not handle, or of SIGKILL, leaves the group to end on its own. Its stdin is not the terminal's either:
//! a read from a terminal by a background group would stop it.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard, Once};

/// The process groups of the children not yet reaped.
static LIVE: Mutex<Vec<libc::pid_t>> = Mutex::new(Vec::new());
static KILL_AT_EXIT: Once = Once::new();

fn live() -> MutexGuard<'static, Vec<libc::pid_t>> {
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

extern "C" fn kill_live_groups() {
    for &group in live().iter() {
        // SAFETY: killpg has no memory effects; `group` is a child's group that is not reaped (see `reap`).
        unsafe { libc::killpg(group, libc::SIGKILL) };
    }
}

/// A child leading its own process group, which ends with it (see the module's documentation).
pub(crate) struct GroupChild {
    child: Child,
    group: libc::pid_t,
    status: Option<ExitStatus>,
}

/// Starts `command` in a new process group, with stdin from /dev/null.
pub(crate) fn spawn(command: &mut Command) -> io::Result<GroupChild> {
    KILL_AT_EXIT.call_once(|| {
        // SAFETY: registers a function that only locks a mutex and sends signals. A failed registration (the
        // table is full) only loses the kill at exit.
        unsafe { libc::atexit(kill_live_groups) };
    });
    // Listed under the lock, so an exit racing with the spawn still finds the group.
    let mut live = live();
    let child = command.process_group(0).stdin(Stdio::null()).spawn()?;
    let group = libc::pid_t::try_from(child.id())
        .map_err(|_| io::Error::other(format!("pid {} out of range", child.id())))?;
    live.push(group);
    Ok(GroupChild {
        child,
        group,
        status: None,
    })
}

impl GroupChild {
    /// The child's exit status if it has exited (its group killed and the child reaped), `None` while it runs.
    pub(crate) fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_some() || self.exited()? {
            return self.reap().map(Some);
        }
        Ok(None)
    }

    /// The child's stdout, when it was piped.
    pub(crate) fn stdout(&mut self) -> Option<&mut std::process::ChildStdout> {
        self.child.stdout.as_mut()
    }

    /// Kills the child's whole group and reaps the child.
    pub(crate) fn kill(&mut self) -> io::Result<ExitStatus> {
        self.reap()
    }

    /// Whether the child has exited, leaving it unreaped (`WNOWAIT`).
    fn exited(&self) -> io::Result<bool> {
        // SAFETY: an all-zero siginfo_t is valid; waitid writes into it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waits (WNOHANG, WNOWAIT: neither blocking nor reaping) for our own child only.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                self.group as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: waitid filled `info` (si_pid stays 0 when no child has changed state).
        Ok(unsafe { info.si_pid() } != 0)
    }

    /// Kills the group, then reaps the child: while the child is unreaped its pid, the group's id, is not reused,
    /// so the signal cannot reach an unrelated group.
    fn reap(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        let mut live = live();
        // SAFETY: killpg has no memory effects; the group is ours (above). ESRCH (already empty) is fine.
        unsafe { libc::killpg(self.group, libc::SIGKILL) };
        let status = self.child.wait()?;
        live.retain(|&group| group != self.group);
        self.status = Some(status);
        Ok(status)
    }
}

impl Drop for GroupChild {
    fn drop(&mut self) {
        let _ = self.reap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `pid` runs (is not a zombie) after up to 5 s for a signal sent to it to take effect.
    fn running(pid: libc::pid_t) -> bool {
        let started = std::time::Instant::now();
        loop {
            // The state is the field after the parenthesised command name.
            let runs = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    stat.rsplit_once(") ")
                        .map(|(_, rest)| !rest.starts_with('Z'))
                })
                .unwrap_or(false);
            if !runs || started.elapsed() > std::time::Duration::from_secs(5) {
                return runs;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    #[test]
    fn what_the_child_leaves_behind_is_killed_when_it_exits() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let mut child = spawn(
            Command::new("sh")
                .arg("-c")
                .arg(format!("sleep 600 & echo $! > {}", pid_file.display())),
        )
        .unwrap();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        assert!(status.success(), "{status}");
        let left: libc::pid_t = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(!running(left), "sleep {left} still runs");
        assert!(!live().contains(&child.group));
    }
}
