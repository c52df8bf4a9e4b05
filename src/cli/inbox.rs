//! `fixwright inbox list|show|retry`: operators' view of the stored deliveries.

use std::io::Write;

use crate::config::{ConfigArgs, ConfigError};
use crate::store::inbox::{InboxError, InboxStatus, Millis, RetryOutcome};
use crate::store::{Store, StoreError};

#[derive(Debug, clap::Args)]
pub struct InboxArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text, global = true)]
    pub format: Format,
    #[command(subcommand)]
    pub action: InboxAction,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, clap::Subcommand)]
pub enum InboxAction {
    /// The newest deliveries first.
    List {
        /// queued | done | dead | rejected
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One delivery with its payload.
    Show { delivery_id: String },
    /// Queue a dead (or done) delivery again.
    Retry { delivery_id: String },
}

#[derive(Debug, thiserror::Error)]
pub enum InboxCliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Inbox(#[from] InboxError),
    #[error("unknown --status `{0}`: expected queued, done, dead or rejected")]
    Status(String),
    #[error("no delivery `{0}` in the inbox")]
    NotFound(String),
    #[error("delivery `{id}` is {status} and cannot be retried{why}")]
    NotRetryable {
        id: String,
        status: &'static str,
        why: &'static str,
    },
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
    #[error("cannot render JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Runs one inbox operation and prints its result to stdout.
pub async fn run(args: InboxArgs) -> Result<(), InboxCliError> {
    let config = args.config.load()?;
    let store = Store::open(&config.database_url).await?;
    let mut out = std::io::stdout().lock();
    let json = args.format == Format::Json;
    match args.action {
        InboxAction::List { status, limit } => {
            let status = match status {
                None => None,
                Some(s) => Some(InboxStatus::parse(&s).ok_or(InboxCliError::Status(s))?),
            };
            let entries = store.inbox_list(status, limit).await?;
            if json {
                serde_json::to_writer_pretty(&mut out, &entries)?;
                writeln!(out)?;
            } else {
                for e in &entries {
                    writeln!(
                        out,
                        "{}  {:<8}  {:<28}  tries={}  received={}{}",
                        e.delivery_id,
                        e.status.as_str(),
                        format!("{}.{}", e.event, e.action.as_deref().unwrap_or("-")),
                        e.tries,
                        e.received_at,
                        e.last_error
                            .as_deref()
                            .map(|m| format!("  error: {m}"))
                            .unwrap_or_default()
                    )?;
                }
            }
        }
        InboxAction::Show { delivery_id } => {
            let (entry, body) = store
                .inbox_show(&delivery_id)
                .await?
                .ok_or_else(|| InboxCliError::NotFound(delivery_id.clone()))?;
            let payload = body.map(|b| {
                serde_json::from_slice::<serde_json::Value>(&b).unwrap_or_else(|_| {
                    serde_json::Value::String(String::from_utf8_lossy(&b).into_owned())
                })
            });
            if json {
                let value = serde_json::json!({ "delivery": entry, "payload": payload });
                serde_json::to_writer_pretty(&mut out, &value)?;
                writeln!(out)?;
            } else {
                serde_json::to_writer_pretty(&mut out, &entry)?;
                writeln!(out)?;
                match payload {
                    Some(p) => serde_json::to_writer_pretty(&mut out, &p)?,
                    None => write!(out, "(payload purged or pruned)")?,
                }
                writeln!(out)?;
            }
        }
        InboxAction::Retry { delivery_id } => {
            match store.inbox_retry(&delivery_id, Millis::now()).await? {
                RetryOutcome::Requeued => {
                    if json {
                        let value =
                            serde_json::json!({ "delivery_id": delivery_id, "requeued": true });
                        serde_json::to_writer(&mut out, &value)?;
                        writeln!(out)?;
                    } else {
                        writeln!(out, "{delivery_id} queued again")?;
                    }
                }
                RetryOutcome::NotFound => return Err(InboxCliError::NotFound(delivery_id)),
                RetryOutcome::NotRetryable { status, has_body } => {
                    return Err(InboxCliError::NotRetryable {
                        id: delivery_id,
                        status: status.as_str(),
                        why: if has_body {
                            ""
                        } else {
                            " (its payload was purged or pruned)"
                        },
                    });
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn inbox_cli_definition_is_consistent() {
        crate::cli::Cli::command().debug_assert();
    }
}
