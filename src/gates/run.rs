//! Running one tool: a child process in the repository root with a time
//! limit and a bound on how much of its output is kept.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use super::parse::ToolOutput;

/// How one tool is run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// The repository root: tools find its configuration from here.
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
    /// Inherited variables the tool must not see.
    pub env_remove: Vec<String>,
    pub timeout: Duration,
    /// Bytes of stdout kept; more makes the run unusable.
    pub max_output: usize,
    /// A file the tool writes its report to, read after it exits.
    pub report: Option<PathBuf>,
}

/// Why a tool run gave no output to parse.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot start `{program}`: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{program}` did not finish within {seconds} s; output so far: {tail}")]
    Timeout {
        program: String,
        seconds: u64,
        tail: String,
    },
    #[error("`{program}` printed more than {limit} bytes; the end of it: {tail}")]
    TooMuchOutput {
        program: String,
        limit: usize,
        tail: String,
    },
    #[error("cannot read `{program}`'s output: {source}")]
    Io {
        program: String,
        #[source]
        source: std::io::Error,
    },
}

/// Kept from the end of stderr for error reports.
pub const TAIL_BYTES: usize = 4000;

/// Bytes kept from a stream, and whether more were dropped.
struct Captured {
    bytes: Vec<u8>,
    overflowed: bool,
}

/// Reads `reader` to its end, keeping the first `limit` bytes (or the last
/// ones with `keep_tail`) so a chatty tool never blocks on a full pipe.
async fn capture<R: AsyncRead + Unpin>(
    mut reader: R,
    limit: usize,
    keep_tail: bool,
) -> std::io::Result<Captured> {
    let mut bytes = Vec::new();
    let mut overflowed = false;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&chunk[..n]);
        if bytes.len() > limit {
            overflowed = true;
            if keep_tail {
                let cut = bytes.len() - limit;
                bytes.drain(..cut);
            } else {
                bytes.truncate(limit);
            }
        }
    }
    Ok(Captured { bytes, overflowed })
}

/// The last `TAIL_BYTES` of `text`, cut at a character boundary.
pub fn tail(text: &str) -> String {
    let text = text.trim_end();
    if text.len() <= TAIL_BYTES {
        return text.to_owned();
    }
    let mut cut = text.len() - TAIL_BYTES;
    while !text.is_char_boundary(cut) {
        cut += 1;
    }
    format!("...{}", &text[cut..])
}

/// Runs `inv` to completion. The child is killed when the time limit passes.
pub async fn run(inv: &Invocation) -> Result<(ToolOutput, Duration), RunError> {
    let program = inv.program.display().to_string();
    let started = Instant::now();
    if let Some(report) = &inv.report {
        // A stale report from an earlier run must never be read as this one's.
        let _ = tokio::fs::remove_file(report).await;
    }
    let mut command = Command::new(&inv.program);
    command
        .args(&inv.args)
        .current_dir(&inv.cwd)
        .envs(inv.env.iter().map(|(k, v)| (k, v)));
    for name in &inv.env_remove {
        command.env_remove(name);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| RunError::Spawn {
            program: program.clone(),
            source,
        })?;
    let io_err = |source| RunError::Io {
        program: program.clone(),
        source,
    };
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(io_err(std::io::Error::other("no pipes")));
    };
    let work = async {
        let (out, err, status) = tokio::join!(
            capture(stdout, inv.max_output, false),
            capture(stderr, TAIL_BYTES, true),
            child.wait()
        );
        Ok::<_, std::io::Error>((out?, err?, status?))
    };
    let (out, err, status) = match tokio::time::timeout(inv.timeout, work).await {
        Ok(done) => done.map_err(io_err)?,
        Err(_) => {
            return Err(RunError::Timeout {
                program,
                seconds: inv.timeout.as_secs(),
                tail: String::new(),
            });
        }
    };
    let stderr = String::from_utf8_lossy(&err.bytes).into_owned();
    if out.overflowed {
        return Err(RunError::TooMuchOutput {
            program,
            limit: inv.max_output,
            tail: tail(&stderr),
        });
    }
    let report = match &inv.report {
        Some(path) => tokio::fs::read_to_string(path).await.ok(),
        None => None,
    };
    Ok((
        ToolOutput {
            exit_code: status.code(),
            stdout: String::from_utf8_lossy(&out.bytes).into_owned(),
            stderr,
            report,
        },
        started.elapsed(),
    ))
}

/// Arguments as owned strings, paths relative to the repository.
pub fn path_args(paths: &[PathBuf]) -> Vec<String> {
    paths
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

/// The python of an environment: `<env>/bin/python`.
pub fn python_in(env_root: &Path) -> PathBuf {
    env_root.join("bin").join("python")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, timeout: Duration, max_output: usize) -> Invocation {
        Invocation {
            program: "sh".into(),
            args: vec!["-c".into(), script.into()],
            cwd: std::env::temp_dir(),
            env: vec![],
            env_remove: vec![],
            timeout,
            max_output,
            report: None,
        }
    }

    #[tokio::test]
    async fn gates_run_keeps_output_and_exit_code() {
        let (out, _) = run(&sh(
            "echo out; echo err >&2; exit 3",
            Duration::from_secs(10),
            100,
        ))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.exit_code, Some(3));
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
    }

    #[tokio::test]
    async fn gates_run_time_limit_kills_the_tool() {
        let result = run(&sh("sleep 30", Duration::from_millis(300), 100)).await;
        assert!(
            matches!(result, Err(RunError::Timeout { .. })),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn gates_run_output_bound_is_an_error_not_a_hang() {
        let result = run(&sh(
            "head -c 1000000 /dev/zero",
            Duration::from_secs(10),
            1000,
        ))
        .await;
        assert!(
            matches!(result, Err(RunError::TooMuchOutput { limit: 1000, .. })),
            "{result:?}"
        );
    }
}
