//! Fixwright's own configuration.
//!
//! Three layers, each overriding the one before: a TOML file (`--config` or
//! `FIXWRIGHT_CONFIG`), `FIXWRIGHT_*` environment variables, then command-line
//! flags. [`Config::resolve`] merges them and validates the result once, at
//! start-up, with an error naming the bad field. Secrets stay in `secrecy`
//! types so that neither `Debug` nor logs can print them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// GitHub caps a webhook payload at 25 MiB; the edge refuses anything larger.
pub const MAX_WEBHOOK_BODY: usize = 25 * 1024 * 1024;

/// The global repair switch. The repair engine reads it before acting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RepairMode {
    /// Repairs run and act on GitHub (branches, pull requests, merges).
    #[default]
    On,
    /// Repairs run and report what they would do, but change nothing on GitHub.
    DryRun,
    /// Deliveries are stored and recorded; no repair starts.
    Off,
}

impl FromStr for RepairMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "on" => Ok(Self::On),
            "dry-run" => Ok(Self::DryRun),
            "off" => Ok(Self::Off),
            other => Err(format!(
                "`{other}` is not one of \"on\", \"dry-run\", \"off\""
            )),
        }
    }
}

/// The GitHub App's identity. Present only when both the id and the key are configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppCredentials {
    pub app_id: u64,
    /// Path of the PEM private key; checked to be readable at start-up.
    pub private_key_path: PathBuf,
}

/// How the inbox workers lease, retry and keep deliveries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboxSettings {
    /// Number of concurrent workers; 0 makes a replica that only receives and stores
    /// (other replicas on the same PostgreSQL database process).
    pub workers: usize,
    /// How long a leased delivery stays invisible to other workers; a worker that
    /// crashes mid-delivery releases it when this expires.
    pub lease: Duration,
    /// Backoff after the first failure; doubles per try up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Tries before a delivery is dead-lettered (at least 1).
    pub max_tries: u32,
    /// Raw bodies of finished deliveries older than this are pruned.
    pub raw_body_retention: Duration,
    /// Upper bound on request bytes held in memory by the webhook endpoint at once.
    pub max_in_flight_bytes: usize,
    /// SQLite only: the inbox writer fsyncs every commit (`synchronous = FULL`), so an
    /// acknowledged delivery survives power loss. `false` trades that for throughput
    /// (`NORMAL`: survives a process crash, not power loss). See docs/durability.md.
    pub power_safe_commits: bool,
    /// Time between passes of missed-delivery recovery (one also runs at start-up).
    /// Only used when App credentials are configured.
    pub recovery_interval: Duration,
}

impl Default for InboxSettings {
    fn default() -> Self {
        Self {
            workers: 4,
            lease: Duration::from_secs(300),
            backoff_base: Duration::from_secs(5),
            backoff_max: Duration::from_secs(3600),
            max_tries: 8,
            raw_body_retention: Duration::from_secs(72 * 3600),
            max_in_flight_bytes: 64 * 1024 * 1024,
            power_safe_commits: true,
            recovery_interval: Duration::from_secs(600),
        }
    }
}

/// The validated configuration every subcommand runs on.
#[derive(Clone, Debug)]
pub struct Config {
    /// `None` means: receive, verify and store, but take no action on GitHub.
    pub credentials: Option<AppCredentials>,
    /// The App's slug; events sent by `<slug>[bot]` are recorded but start no work.
    pub app_slug: Option<String>,
    /// Every secret accepted on incoming webhooks, current first (rotation). Never empty
    /// for `serve` (checked by [`Config::require_webhook_secrets`]).
    pub webhook_secrets: Vec<SecretString>,
    pub database_url: String,
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// When set, `/metrics` answers only `Authorization: Bearer <token>`.
    pub metrics_token: Option<SecretString>,
    pub mode: RepairMode,
    pub inbox: InboxSettings,
    /// The REST API root: `https://api.github.com`, or `https://HOST/api/v3` for
    /// GitHub Enterprise Server. Always http(s) and ends without a query or fragment.
    pub github_api_url: url::Url,
}

/// Where the App talks to GitHub unless `github_api_url` says otherwise.
pub const DEFAULT_GITHUB_API_URL: &str = "https://api.github.com";

/// Why the configuration was refused. Every variant names the field or file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid value for `{field}`: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("no data directory: set `data_dir` (FIXWRIGHT_DATA_DIR); the platform has no default")]
    NoDataDir,
}

fn invalid(field: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field,
        message: message.into(),
    }
}

/// The layer shape shared by the file, the environment and the flags: every field optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigLayer {
    pub app_id: Option<u64>,
    pub private_key_path: Option<PathBuf>,
    pub app_slug: Option<String>,
    pub webhook_secrets: Option<Vec<SecretString>>,
    pub database_url: Option<String>,
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub metrics_token: Option<SecretString>,
    pub mode: Option<String>,
    pub github_api_url: Option<String>,
    #[serde(default)]
    pub inbox: InboxLayer,
}

/// The `[inbox]` table.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboxLayer {
    pub workers: Option<usize>,
    pub lease_seconds: Option<u64>,
    pub backoff_base_seconds: Option<u64>,
    pub backoff_max_seconds: Option<u64>,
    pub max_tries: Option<u32>,
    pub raw_body_retention_hours: Option<u64>,
    pub max_in_flight_bytes: Option<usize>,
    pub power_safe_commits: Option<bool>,
    pub recovery_interval_seconds: Option<u64>,
}

macro_rules! overlay {
    ($base:expr, $top:expr; $($field:ident),*) => {
        $( if $top.$field.is_some() { $base.$field = $top.$field; } )*
    };
}

impl ConfigLayer {
    /// Reads a TOML file; unknown keys are refused so a typo cannot silently fall back to a default.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses TOML text (the file layer).
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Reads `FIXWRIGHT_*` variables through `get` (so tests need not touch the process
    /// environment). `FIXWRIGHT_WEBHOOK_SECRET` sets one secret; `FIXWRIGHT_WEBHOOK_SECRETS`
    /// sets several, comma-separated, current first (a secret containing a comma must be
    /// given in the file).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        fn num<T: FromStr>(
            get: &impl Fn(&str) -> Option<String>,
            var: &str,
            field: &'static str,
        ) -> Result<Option<T>, ConfigError> {
            match get(var) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| invalid(field, format!("{var}=`{v}` is not a valid value"))),
            }
        }
        let secrets = match (
            get("FIXWRIGHT_WEBHOOK_SECRETS"),
            get("FIXWRIGHT_WEBHOOK_SECRET"),
        ) {
            (Some(list), _) => Some(
                list.split(',')
                    .map(|s| SecretString::from(s.to_owned()))
                    .collect(),
            ),
            (None, Some(one)) => Some(vec![SecretString::from(one)]),
            (None, None) => None,
        };
        Ok(Self {
            app_id: num(&get, "FIXWRIGHT_APP_ID", "app_id")?,
            private_key_path: get("FIXWRIGHT_PRIVATE_KEY_PATH").map(PathBuf::from),
            app_slug: get("FIXWRIGHT_APP_SLUG"),
            webhook_secrets: secrets,
            database_url: get("FIXWRIGHT_DATABASE_URL"),
            listen: get("FIXWRIGHT_LISTEN"),
            data_dir: get("FIXWRIGHT_DATA_DIR").map(PathBuf::from),
            metrics_token: get("FIXWRIGHT_METRICS_TOKEN").map(SecretString::from),
            mode: get("FIXWRIGHT_MODE"),
            github_api_url: get("FIXWRIGHT_GITHUB_API_URL"),
            inbox: InboxLayer {
                workers: num(&get, "FIXWRIGHT_WORKERS", "inbox.workers")?,
                lease_seconds: num(&get, "FIXWRIGHT_LEASE_SECONDS", "inbox.lease_seconds")?,
                backoff_base_seconds: num(
                    &get,
                    "FIXWRIGHT_BACKOFF_BASE_SECONDS",
                    "inbox.backoff_base_seconds",
                )?,
                backoff_max_seconds: num(
                    &get,
                    "FIXWRIGHT_BACKOFF_MAX_SECONDS",
                    "inbox.backoff_max_seconds",
                )?,
                max_tries: num(&get, "FIXWRIGHT_MAX_TRIES", "inbox.max_tries")?,
                raw_body_retention_hours: num(
                    &get,
                    "FIXWRIGHT_RAW_BODY_RETENTION_HOURS",
                    "inbox.raw_body_retention_hours",
                )?,
                max_in_flight_bytes: num(
                    &get,
                    "FIXWRIGHT_MAX_IN_FLIGHT_BYTES",
                    "inbox.max_in_flight_bytes",
                )?,
                power_safe_commits: num(
                    &get,
                    "FIXWRIGHT_POWER_SAFE_COMMITS",
                    "inbox.power_safe_commits",
                )?,
                recovery_interval_seconds: num(
                    &get,
                    "FIXWRIGHT_RECOVERY_INTERVAL_SECONDS",
                    "inbox.recovery_interval_seconds",
                )?,
            },
        })
    }

    /// `top` wins wherever it sets a field.
    pub fn overlay(mut self, top: ConfigLayer) -> Self {
        overlay!(self, top; app_id, private_key_path, app_slug, webhook_secrets, database_url,
            listen, data_dir, metrics_token, mode, github_api_url);
        overlay!(self.inbox, top.inbox; workers, lease_seconds, backoff_base_seconds,
            backoff_max_seconds, max_tries, raw_body_retention_hours, max_in_flight_bytes,
            power_safe_commits, recovery_interval_seconds);
        self
    }
}

impl Config {
    /// Merges file < environment < flags and validates. `config_path` is the `--config`
    /// flag or `FIXWRIGHT_CONFIG`; `default_data_dir` is the platform default (see
    /// [`platform_data_dir`]), used only when no layer sets `data_dir`.
    pub fn resolve(
        config_path: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        flags: ConfigLayer,
        default_data_dir: Option<PathBuf>,
    ) -> Result<Self, ConfigError> {
        let file = match config_path {
            Some(path) => ConfigLayer::from_file(path)?,
            None => ConfigLayer::default(),
        };
        let merged = file.overlay(ConfigLayer::from_env(env)?).overlay(flags);
        Self::validate(merged, default_data_dir)
    }

    /// Turns a merged layer into a configuration, or names the first bad field.
    pub fn validate(
        layer: ConfigLayer,
        default_data_dir: Option<PathBuf>,
    ) -> Result<Self, ConfigError> {
        let credentials = match (layer.app_id, layer.private_key_path) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(invalid(
                    "private_key_path",
                    "app_id is set but private_key_path is not",
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "app_id",
                    "private_key_path is set but app_id is not",
                ));
            }
            (Some(0), Some(_)) => return Err(invalid("app_id", "must be a positive number")),
            (Some(app_id), Some(path)) => {
                std::fs::File::open(&path).map_err(|e| {
                    invalid(
                        "private_key_path",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                Some(AppCredentials {
                    app_id,
                    private_key_path: path,
                })
            }
        };
        if let Some(slug) = &layer.app_slug {
            let ok = !slug.is_empty()
                && slug
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok {
                return Err(invalid(
                    "app_slug",
                    format!("`{slug}` is not a GitHub App slug (letters, digits, '-')"),
                ));
            }
        }
        let webhook_secrets = layer.webhook_secrets.unwrap_or_default();
        if let Some(i) = webhook_secrets
            .iter()
            .position(|s| s.expose_secret().is_empty())
        {
            return Err(invalid("webhook_secrets", format!("entry {i} is empty")));
        }
        let data_dir = layer
            .data_dir
            .or(default_data_dir)
            .ok_or(ConfigError::NoDataDir)?;
        let database_url = match layer.database_url {
            Some(url) => {
                let known = ["sqlite:", "postgres:", "postgresql:"];
                if !known.iter().any(|p| url.starts_with(p)) {
                    return Err(invalid(
                        "database_url",
                        "expected a sqlite:// or postgres:// URL",
                    ));
                }
                url
            }
            None => format!("sqlite://{}", data_dir.join("fixwright.db").display()),
        };
        let listen = layer
            .listen
            .as_deref()
            .unwrap_or("127.0.0.1:3000")
            .parse::<SocketAddr>()
            .map_err(|e| invalid("listen", format!("not a socket address: {e}")))?;
        if let Some(token) = &layer.metrics_token
            && token.expose_secret().is_empty()
        {
            return Err(invalid("metrics_token", "is empty"));
        }
        let mode = match layer.mode.as_deref() {
            None => RepairMode::default(),
            Some(m) => m.parse().map_err(|e: String| invalid("mode", e))?,
        };
        let inbox = Self::validate_inbox(&layer.inbox)?;
        let github_api_url = parse_api_url(
            layer
                .github_api_url
                .as_deref()
                .unwrap_or(DEFAULT_GITHUB_API_URL),
        )?;
        Ok(Self {
            credentials,
            app_slug: layer.app_slug,
            webhook_secrets,
            database_url,
            listen,
            data_dir,
            metrics_token: layer.metrics_token,
            mode,
            inbox,
            github_api_url,
        })
    }

    fn validate_inbox(layer: &InboxLayer) -> Result<InboxSettings, ConfigError> {
        let d = InboxSettings::default();
        let secs = |v: Option<u64>, default: Duration| v.map_or(default, Duration::from_secs);
        let settings = InboxSettings {
            workers: layer.workers.unwrap_or(d.workers),
            lease: secs(layer.lease_seconds, d.lease),
            backoff_base: secs(layer.backoff_base_seconds, d.backoff_base),
            backoff_max: secs(layer.backoff_max_seconds, d.backoff_max),
            max_tries: layer.max_tries.unwrap_or(d.max_tries),
            raw_body_retention: layer
                .raw_body_retention_hours
                .map_or(d.raw_body_retention, |h| Duration::from_secs(h * 3600)),
            max_in_flight_bytes: layer.max_in_flight_bytes.unwrap_or(d.max_in_flight_bytes),
            power_safe_commits: layer.power_safe_commits.unwrap_or(d.power_safe_commits),
            recovery_interval: secs(layer.recovery_interval_seconds, d.recovery_interval),
        };
        if settings.workers > 256 {
            return Err(invalid("inbox.workers", "must be between 0 and 256"));
        }
        if settings.lease.is_zero() {
            return Err(invalid("inbox.lease_seconds", "must be at least 1"));
        }
        if settings.recovery_interval < Duration::from_secs(10) {
            // Each pass pages through up to three days of GitHub's delivery log.
            return Err(invalid(
                "inbox.recovery_interval_seconds",
                "must be at least 10",
            ));
        }
        if settings.max_tries == 0 {
            return Err(invalid("inbox.max_tries", "must be at least 1"));
        }
        if settings.backoff_base > settings.backoff_max {
            return Err(invalid(
                "inbox.backoff_base_seconds",
                "is larger than inbox.backoff_max_seconds",
            ));
        }
        if settings.max_in_flight_bytes < MAX_WEBHOOK_BODY {
            return Err(invalid(
                "inbox.max_in_flight_bytes",
                format!("must be at least {MAX_WEBHOOK_BODY} (one maximum-size delivery)"),
            ));
        }
        Ok(settings)
    }

    /// `serve` cannot verify anything without a secret; other subcommands do not need one.
    pub fn require_webhook_secrets(&self) -> Result<(), ConfigError> {
        if self.webhook_secrets.is_empty() {
            return Err(invalid(
                "webhook_secrets",
                "at least one secret is required (FIXWRIGHT_WEBHOOK_SECRET or webhook_secrets in the config file)",
            ));
        }
        Ok(())
    }

    /// The login GitHub shows for the App's own actions, if the slug is known.
    pub fn bot_login(&self) -> Option<String> {
        self.app_slug.as_ref().map(|s| format!("{s}[bot]"))
    }
}

/// Checks `github_api_url`: an absolute http(s) URL with no query or fragment. A
/// trailing `/` is dropped so `https://HOST/api/v3/` and `https://HOST/api/v3` agree.
fn parse_api_url(raw: &str) -> Result<url::Url, ConfigError> {
    let url = url::Url::parse(raw.trim_end_matches('/'))
        .map_err(|e| invalid("github_api_url", format!("`{raw}` is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid(
            "github_api_url",
            format!("`{raw}` is not an http(s) URL with a host"),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "github_api_url",
            format!("`{raw}` must not have a query or fragment"),
        ));
    }
    Ok(url)
}

/// The configuration flags every subcommand shares. They form the top layer.
/// Secrets given as flags are visible to other local users (`ps`); prefer the file
/// or the environment for them.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ConfigArgs {
    /// TOML configuration file.
    #[arg(long = "config", env = "FIXWRIGHT_CONFIG", global = true)]
    pub config_file: Option<PathBuf>,
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    #[arg(long)]
    pub app_id: Option<u64>,
    #[arg(long)]
    pub private_key_path: Option<PathBuf>,
    /// The App's slug; events from `<slug>[bot]` start no work.
    #[arg(long)]
    pub app_slug: Option<String>,
    /// A webhook secret; repeat for rotation (current first).
    #[arg(long = "webhook-secret", value_parser = parse_secret)]
    pub webhook_secrets: Vec<SecretString>,
    /// Address to listen on, e.g. 0.0.0.0:3000.
    #[arg(long)]
    pub listen: Option<String>,
    /// on | dry-run | off
    #[arg(long)]
    pub mode: Option<String>,
    #[arg(long)]
    pub workers: Option<usize>,
}

fn parse_secret(s: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(s.to_owned()))
}

impl ConfigArgs {
    /// The flags as a layer (only what was given).
    pub fn layer(&self) -> ConfigLayer {
        ConfigLayer {
            app_id: self.app_id,
            private_key_path: self.private_key_path.clone(),
            app_slug: self.app_slug.clone(),
            webhook_secrets: (!self.webhook_secrets.is_empty())
                .then(|| self.webhook_secrets.clone()),
            database_url: self.database_url.clone(),
            listen: self.listen.clone(),
            data_dir: self.data_dir.clone(),
            metrics_token: None,
            mode: self.mode.clone(),
            github_api_url: None,
            inbox: InboxLayer {
                workers: self.workers,
                ..InboxLayer::default()
            },
        }
    }

    /// Resolves file < process environment < these flags, with the platform's data dir
    /// as the default.
    pub fn load(&self) -> Result<Config, ConfigError> {
        Config::resolve(
            self.config_file.as_deref(),
            |k| std::env::var(k).ok(),
            self.layer(),
            platform_data_dir(),
        )
    }
}

/// The platform's data directory for Fixwright (e.g. `~/.local/share/fixwright`).
pub fn platform_data_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "fixwright").map(|d| d.data_dir().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(toml: &str) -> ConfigLayer {
        match ConfigLayer::from_toml(toml) {
            Ok(l) => l,
            Err(e) => panic!("test TOML must parse: {e}"),
        }
    }

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn err_field(result: Result<Config, ConfigError>) -> String {
        match result {
            Ok(_) => panic!("expected an invalid configuration"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn config_layers_file_then_env_then_flags() {
        let file = layer(
            "webhook_secrets = [\"file\"]\nlisten = \"127.0.0.1:1\"\nmode = \"off\"\n[inbox]\nworkers = 2\nmax_tries = 3\n",
        );
        let from_env = ConfigLayer::from_env(env(&[
            ("FIXWRIGHT_LISTEN", "127.0.0.1:2"),
            ("FIXWRIGHT_WORKERS", "5"),
            ("FIXWRIGHT_WEBHOOK_SECRETS", "new,old"),
            ("FIXWRIGHT_POWER_SAFE_COMMITS", "false"),
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        let flags = ConfigLayer {
            listen: Some("127.0.0.1:3".into()),
            ..ConfigLayer::default()
        };
        let merged = file.overlay(from_env).overlay(flags);
        let config =
            Config::validate(merged, Some("/tmp/fw-data".into())).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.listen.port(), 3);
        assert_eq!(config.inbox.workers, 5);
        assert_eq!(config.inbox.max_tries, 3);
        assert!(!config.inbox.power_safe_commits);
        assert_eq!(config.mode, RepairMode::Off);
        let secrets: Vec<&str> = config
            .webhook_secrets
            .iter()
            .map(|s| s.expose_secret())
            .collect();
        assert_eq!(secrets, ["new", "old"]);
        assert_eq!(config.database_url, "sqlite:///tmp/fw-data/fixwright.db");
        assert!(config.credentials.is_none());
        assert_eq!(config.github_api_url.as_str(), "https://api.github.com/");
        assert_eq!(config.inbox.recovery_interval, Duration::from_secs(600));
    }

    #[test]
    fn config_takes_an_enterprise_api_url_and_recovery_interval() {
        let from_env = ConfigLayer::from_env(env(&[
            (
                "FIXWRIGHT_GITHUB_API_URL",
                "https://ghe.example.com/api/v3/",
            ),
            ("FIXWRIGHT_RECOVERY_INTERVAL_SECONDS", "120"),
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        let config = Config::validate(layer("").overlay(from_env), Some("/tmp".into()))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            config.github_api_url.as_str(),
            "https://ghe.example.com/api/v3"
        );
        assert_eq!(config.inbox.recovery_interval, Duration::from_secs(120));
    }

    #[test]
    fn config_errors_name_the_field() {
        let cases = [
            ("mode = \"maybe\"", "`mode`"),
            ("listen = \"nowhere\"", "`listen`"),
            ("app_id = 5", "`private_key_path`"),
            ("database_url = \"mysql://x\"", "`database_url`"),
            ("webhook_secrets = [\"a\", \"\"]", "`webhook_secrets`"),
            ("[inbox]\nworkers = 300", "`inbox.workers`"),
            ("[inbox]\nmax_tries = 0", "`inbox.max_tries`"),
            (
                "[inbox]\nrecovery_interval_seconds = 0",
                "`inbox.recovery_interval_seconds`",
            ),
            ("github_api_url = \"ftp://ghe.example\"", "`github_api_url`"),
            ("github_api_url = \"not a url\"", "`github_api_url`"),
            (
                "[inbox]\nmax_in_flight_bytes = 10",
                "`inbox.max_in_flight_bytes`",
            ),
            (
                "app_id = 5\nprivate_key_path = \"/nonexistent/key.pem\"",
                "`private_key_path`",
            ),
        ];
        for (toml, field) in cases {
            let message = err_field(Config::validate(layer(toml), Some("/tmp".into())));
            assert!(message.contains(field), "{toml:?} gave {message:?}");
        }
        let env_err = ConfigLayer::from_env(env(&[("FIXWRIGHT_APP_ID", "twelve")]));
        assert!(matches!(
            env_err,
            Err(ConfigError::Invalid {
                field: "app_id",
                ..
            })
        ));
        assert!(ConfigLayer::from_toml("unknown_key = 1").is_err());
    }

    #[test]
    fn config_debug_never_shows_secrets() {
        let config = Config::validate(
            layer("webhook_secrets = [\"hunter2-webhook\"]\nmetrics_token = \"hunter2-metrics\""),
            Some("/tmp".into()),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("webhook_secrets"));
    }

    #[test]
    fn config_serve_needs_a_secret() {
        let config = Config::validate(ConfigLayer::default(), Some("/tmp".into()))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(config.require_webhook_secrets().is_err());
    }
}
