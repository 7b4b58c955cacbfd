//! Configuration: `billrun.toml` (optional) overlaid by environment variables.
//!
//! Every setting has a default that works on a developer's machine, so that
//! `billrun demo` needs nothing prepared. Precedence: built-in default, then the
//! file (`--config FILE`, `$BILLRUN_CONFIG`, or `./billrun.toml` if present), then
//! `DATABASE_URL`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Deserialize;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Postgres URL. `None`: try localhost:5432, else start a private server.
    pub database_url: Option<String>,
    /// Where billrun keeps local state (the private Postgres cluster).
    pub data_dir: PathBuf,
    /// The cron schedule file. `None` (the default): the schedule built into the
    /// binary (`jobs/schedule.toml` of its source). A file named here must exist.
    pub schedule_file: Option<PathBuf>,
    /// Worker settings.
    pub worker: WorkerConfig,
    /// Retry policy of failed jobs.
    pub retry: RetryConfig,
    /// How long finished jobs are kept.
    pub retention: RetentionConfig,
    /// Email delivery of invoices.
    pub mail: MailConfig,
    /// The HTTP API (`billrun serve`).
    pub http: HttpConfig,
    /// Where rendered invoice documents are stored.
    pub documents: DocumentsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: None,
            data_dir: PathBuf::from(".billrun"),
            schedule_file: None,
            worker: WorkerConfig::default(),
            retry: RetryConfig::default(),
            retention: RetentionConfig::default(),
            mail: MailConfig::default(),
            http: HttpConfig::default(),
            documents: DocumentsConfig::default(),
        }
    }
}

/// How a worker process claims and runs jobs.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    /// Jobs run at once per kind unless `concurrency` says otherwise.
    pub default_concurrency: usize,
    /// Per job kind (e.g. `"close-chunk" = 4`); 0 disables the kind in this process.
    pub concurrency: BTreeMap<String, usize>,
    /// How often an idle worker looks for new jobs, in milliseconds.
    pub poll_interval_ms: u64,
    /// How often a worker proves it is alive, in seconds.
    pub heartbeat_secs: u64,
    /// Heartbeats a worker may miss before its running jobs are given to others.
    pub missed_heartbeats: usize,
    /// Whether `billrun worker` also runs the cron scheduler.
    pub scheduler: bool,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            default_concurrency: 2,
            concurrency: BTreeMap::new(),
            poll_interval_ms: 250,
            heartbeat_secs: 10,
            missed_heartbeats: 3,
            scheduler: true,
        }
    }
}

impl WorkerConfig {
    /// Concurrency of `kind` in this process.
    pub fn concurrency_of(&self, kind: &str) -> usize {
        self.concurrency
            .get(kind)
            .copied()
            .unwrap_or(self.default_concurrency)
    }
}

/// Exponential backoff: attempt n waits `base * 2^(n-1)`, at most `max`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts before a job is dead (including the first).
    pub max_attempts: u32,
    /// Delay after the first failure, in milliseconds.
    pub backoff_base_ms: u64,
    /// Longest delay, in seconds.
    pub backoff_max_secs: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            backoff_base_ms: 2_000,
            backoff_max_secs: 3_600,
        }
    }
}

impl RetryConfig {
    /// The delay before the attempt that follows failed attempt `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let ms = self.backoff_base_ms.saturating_mul(1u64 << exp);
        Duration::from_millis(ms).min(Duration::from_secs(self.backoff_max_secs))
    }
}

/// Retention of finished jobs (pruned by the `queue-retention` job).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Completed jobs are deleted this many days after they finished.
    pub done_days: u32,
    /// Dead and cancelled jobs are kept longer, for inspection.
    pub dead_days: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            done_days: 7,
            dead_days: 30,
        }
    }
}

/// How invoices are sent: written to a folder (`file`, the default) or handed to an
/// SMTP server (`smtp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    /// One `<uuid>.eml` per message in `outbox_dir`.
    File,
    /// `smtp_url`.
    Smtp,
}

/// The `[mail]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    /// `file` or `smtp`.
    pub transport: MailTransport,
    /// Where the file transport writes its messages (default `<data_dir>/outbox`,
    /// that is `.billrun/outbox`).
    pub outbox_dir: Option<PathBuf>,
    /// `smtp://host:port` (STARTTLS required; `?tls=none` for plaintext, tests only),
    /// or `smtps://user:pass@host:port` (TLS from the start). Credentials may be given
    /// in either.
    pub smtp_url: Option<String>,
    /// A PEM file of extra root certificates to trust for STARTTLS and smtps (a
    /// private CA or a relay's self-signed certificate), on top of the public roots.
    pub ca_file: Option<PathBuf>,
    /// From address overriding the organisation's `billing_email`.
    pub from: Option<String>,
    /// Seconds before an SMTP command times out.
    pub timeout_secs: u64,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            transport: MailTransport::File,
            outbox_dir: None,
            smtp_url: None,
            ca_file: None,
            from: None,
            timeout_secs: 30,
        }
    }
}

/// The `[documents]` section: where `render-chunk` stores the HTML and PDF of each
/// invoice (README "Where documents live"). Each stored document records where it
/// is, so a change applies to documents rendered afterwards.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DocumentsConfig {
    /// `postgres` (the default: in the `invoice_documents` row) or `files`.
    pub store: DocumentsStore,
    /// The folder of `files` (default `<data_dir>/documents`).
    pub dir: Option<PathBuf>,
}

/// `[documents] store`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocumentsStore {
    /// In the database row.
    #[default]
    Postgres,
    /// Files under `[documents] dir`, the row holding their URLs and hashes.
    Files,
}

/// The `[http]` section: the API server of `billrun serve` (and `worker --serve`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// The address to listen on, `host:port` (default `127.0.0.1:8080`; `--listen`
    /// overrides it). Plain HTTP: TLS is terminated by a proxy in front.
    pub listen: String,
    /// The largest request body accepted, in bytes (default 4 MiB: a `/ingestBatch` of
    /// 1,000 events of Togai's largest shape, about 3 KB each); a larger one is
    /// answered 413.
    pub body_limit_bytes: usize,
    /// Seconds a request may take before it is answered 408 (default 30); the request
    /// itself goes on to its end (README "HTTP API").
    pub request_timeout_secs: u64,
    /// The same for the routes that wait for a job, the mail server or an upload
    /// (`http::deadline::WAITS_FOR_WORK`; default 300).
    pub long_request_timeout_secs: u64,
    /// Hours a session opened by `POST /authenticate` stays valid (default 24).
    pub session_hours: u32,
    /// The largest CSV file `POST /billrun/imports` accepts, in bytes (default 256
    /// MiB): the upload is streamed to a temporary file, never held in memory, so
    /// it is not bound by `body_limit_bytes`; a larger one is answered 413.
    pub upload_limit_bytes: u64,
    /// The URL people reach the API at, without a trailing slash (e.g.
    /// `https://billing.example.com`, behind a proxy); invitation links point at
    /// `<public_url>/invites/accept`. Default: `http://<listen>`.
    pub public_url: Option<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            body_limit_bytes: 4 * 1024 * 1024,
            request_timeout_secs: 30,
            long_request_timeout_secs: 300,
            session_hours: 24,
            upload_limit_bytes: 256 * 1024 * 1024,
            public_url: None,
        }
    }
}

impl HttpConfig {
    /// The page that accepts invitations (`GET`/`POST /invites/accept` of the API):
    /// `<public_url>/invites/accept`, else `http://<listen>/invites/accept`.
    pub fn invite_accept_url(&self) -> String {
        let base = match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.listen),
        };
        format!("{base}/invites/accept")
    }
}

impl Config {
    /// The folder of the file mail transport.
    pub fn outbox_dir(&self) -> PathBuf {
        self.mail
            .outbox_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("outbox"))
    }

    /// Loads the configuration: `path` if given, else `$BILLRUN_CONFIG`, else
    /// `./billrun.toml` if it exists, else defaults; then `DATABASE_URL` on top.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let from_env = std::env::var_os("BILLRUN_CONFIG").map(PathBuf::from);
        let candidate = path.map(Path::to_path_buf).or(from_env);
        let mut config = match candidate {
            Some(p) => Self::from_file(&p)?,
            None if Path::new("billrun.toml").exists() => {
                Self::from_file(Path::new("billrun.toml"))?
            }
            None => Self::default(),
        };
        if let Ok(url) = std::env::var("DATABASE_URL") {
            if !url.is_empty() {
                config.database_url = Some(url);
            }
        }
        Ok(config)
    }

    fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading configuration file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("in configuration file {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let r = RetryConfig {
            max_attempts: 10,
            backoff_base_ms: 500,
            backoff_max_secs: 3,
        };
        assert_eq!(r.backoff(1), Duration::from_millis(500));
        assert_eq!(r.backoff(2), Duration::from_millis(1000));
        assert_eq!(r.backoff(3), Duration::from_millis(2000));
        assert_eq!(r.backoff(4), Duration::from_secs(3));
        assert_eq!(r.backoff(60), Duration::from_secs(3));
    }

    #[test]
    fn unknown_settings_are_refused_by_name() {
        let e = toml::from_str::<Config>("[worker]\npoll_interval = 5\n").unwrap_err();
        assert!(e.to_string().contains("poll_interval"), "{e}");
        let c: Config = toml::from_str("[worker.concurrency]\n\"cycle-close\" = 0\n").unwrap();
        assert_eq!(c.worker.concurrency_of("cycle-close"), 0);
        assert_eq!(c.worker.concurrency_of("probe"), 2);
        let c: Config =
            toml::from_str("[mail]\ntransport = \"smtp\"\nsmtp_url = \"smtp://h:25\"\n").unwrap();
        assert_eq!(c.mail.transport, MailTransport::Smtp);
        assert_eq!(c.outbox_dir(), PathBuf::from(".billrun/outbox"));
        assert!(toml::from_str::<Config>("[mail]\ntransport = \"pigeon\"\n").is_err());
        let c: Config = toml::from_str("[http]\nlisten = \"0.0.0.0:9000\"\n").unwrap();
        assert_eq!(c.http.listen, "0.0.0.0:9000");
        assert_eq!(c.http.body_limit_bytes, 4 * 1024 * 1024);
        assert_eq!(Config::default().http.listen, "127.0.0.1:8080");
    }
}
