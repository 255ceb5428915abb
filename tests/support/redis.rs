//! Redis and its Prometheus exporter for the queue scenarios: `redis-server` on a free loopback
//! port with persistence off, `prometheus-redis-exporter` watching the `bull:*:wait` lists and the
//! `cities` list, and a minimal RESP client so tests push and pop jobs without `redis-cli`.
//! The exporter exposes list lengths as `redis_key_size{db="db0",key="…"}`; [`QUEUE_DEPTH_RULE`]
//! turns the Bull ones into `redis_queue_depth{queue_name="…"}` in Prometheus.

use std::process::Command;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::harness::{ChildProcess, START_ATTEMPTS, Startup, await_ready, free_port, http_client};

/// `--check-keys` of the exporter: Bull's waiting lists, found with SCAN. A list that becomes
/// empty no longer exists in Redis, so its series disappears rather than reading 0.
pub const CHECK_KEYS: &str = "bull:*:wait";

/// `--check-single-keys` of the exporter: the `cities` list in db 0, exposed even when empty (0).
pub const CHECK_SINGLE_KEYS: &str = "db0=cities";

/// Recording rule (name, expression) that turns `redis_key_size{key="bull:Q:wait"}` into
/// `redis_queue_depth{queue_name="Q"}` (keeping the other labels).
pub const QUEUE_DEPTH_RULE: (&str, &str) = (
    "redis_queue_depth",
    r#"label_replace(redis_key_size{key=~"bull:.+:wait"}, "queue_name", "$1", "key", "bull:(.+):wait")"#,
);

/// A RESP2 reply.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Integer(i64),
    /// `None` is the nil bulk string.
    Bulk(Option<Vec<u8>>),
    /// `None` is the nil array.
    Array(Option<Vec<Reply>>),
}

/// A running `redis-server`. Dropping it kills the process and removes its dir.
pub struct Redis {
    process: ChildProcess,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Redis {
    /// Starts `redis-server` on 127.0.0.1 and a free port, without persistence, and waits until
    /// it answers `PING`.
    pub async fn start() -> Redis {
        let dir = tempfile::Builder::new()
            .prefix("metrics-adapter-redis-")
            .tempdir()
            .expect("create Redis temp dir");
        let dir_path = dir.path().canonicalize().expect("canonical Redis temp dir");
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            let mut command = Command::new("redis-server");
            command
                .current_dir(&dir_path)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(&dir_path);
            let mut process =
                ChildProcess::spawn("redis-server", command, &dir_path.join("redis.log"));
            let expected_dir = dir_path.to_string_lossy().into_owned();
            let probe = || is_ready(port, &expected_dir);
            match await_ready(&mut process, probe).await {
                Startup::Ready => {
                    return Redis {
                        process,
                        port,
                        _dir: dir,
                    };
                }
                Startup::PortTaken => continue,
            }
        }
        panic!("redis-server lost the race for a free port {START_ATTEMPTS} times");
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id of the server.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Sends one command on a fresh connection and returns the reply; Redis errors come back as
    /// [`Reply::Error`], connection failures panic.
    pub async fn command(&self, args: &[&str]) -> Reply {
        send(self.port, args)
            .await
            .unwrap_or_else(|e| panic!("redis {args:?}: {e}"))
    }

    /// Appends `n` jobs to list `key` (`RPUSH`) and returns the list's new length.
    pub async fn push(&self, key: &str, n: usize) -> i64 {
        if n == 0 {
            return self.list_len(key).await;
        }
        let jobs: Vec<String> = (0..n).map(|i| format!("job-{i}")).collect();
        let mut args = vec!["RPUSH", key];
        args.extend(jobs.iter().map(String::as_str));
        match self.command(&args).await {
            Reply::Integer(len) => len,
            other => panic!("RPUSH {key}: {other:?}"),
        }
    }

    /// Removes up to `n` jobs from the head of list `key` (`LPOP key n`); returns how many.
    pub async fn pop(&self, key: &str, n: usize) -> usize {
        match self.command(&["LPOP", key, &n.to_string()]).await {
            Reply::Array(Some(items)) => items.len(),
            Reply::Array(None) => 0,
            other => panic!("LPOP {key} {n}: {other:?}"),
        }
    }

    /// The length of list `key` (`LLEN`; 0 when it does not exist).
    pub async fn list_len(&self, key: &str) -> i64 {
        match self.command(&["LLEN", key]).await {
            Reply::Integer(len) => len,
            other => panic!("LLEN {key}: {other:?}"),
        }
    }
}

/// Answers PING and runs in our dir (not someone else's Redis on a recycled port).
async fn is_ready(port: u16, expected_dir: &str) -> bool {
    if send(port, &["PING"]).await.ok() != Some(Reply::Simple("PONG".into())) {
        return false;
    }
    let Ok(Reply::Array(Some(pair))) = send(port, &["CONFIG", "GET", "dir"]).await else {
        return false;
    };
    pair.get(1) == Some(&Reply::Bulk(Some(expected_dir.as_bytes().to_vec())))
}

async fn send(port: u16, args: &[&str]) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let mut request = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        request.extend_from_slice(arg.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    stream.write_all(&request).await?;
    read_reply(&mut BufReader::new(stream)).await
}

async fn read_reply(reader: &mut BufReader<TcpStream>) -> std::io::Result<Reply> {
    let invalid = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    let mut line = String::new();
    if reader.read_line(&mut line).await? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let line = line
        .strip_suffix("\r\n")
        .ok_or_else(|| invalid(format!("reply line without CRLF: {line:?}")))?;
    let (kind, rest) = line.split_at_checked(1).unwrap_or(("", ""));
    let number = || {
        rest.parse::<i64>()
            .map_err(|_| invalid(format!("bad number in {line:?}")))
    };
    Ok(match kind {
        "+" => Reply::Simple(rest.to_string()),
        "-" => Reply::Error(rest.to_string()),
        ":" => Reply::Integer(number()?),
        "$" => match usize::try_from(number()?) {
            Err(_) => Reply::Bulk(None),
            Ok(len) => {
                let mut data = vec![0; len + 2];
                reader.read_exact(&mut data).await?;
                if !data.ends_with(b"\r\n") {
                    return Err(invalid(format!("bulk string of {len} bytes without CRLF")));
                }
                data.truncate(len);
                Reply::Bulk(Some(data))
            }
        },
        "*" => match usize::try_from(number()?) {
            Err(_) => Reply::Array(None),
            Ok(count) => {
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    items.push(Box::pin(read_reply(reader)).await?);
                }
                Reply::Array(Some(items))
            }
        },
        _ => return Err(invalid(format!("unknown reply type in {line:?}"))),
    })
}

/// A running `prometheus-redis-exporter` for one [`Redis`]. Dropping it kills the process.
pub struct RedisExporter {
    process: ChildProcess,
    address: String,
    _dir: tempfile::TempDir,
}

impl RedisExporter {
    /// Starts the exporter on a free port with `-check-keys` [`CHECK_KEYS`] and
    /// `-check-single-keys` [`CHECK_SINGLE_KEYS`], and waits until it reports on `redis`.
    pub async fn start(redis: &Redis) -> RedisExporter {
        let dir = tempfile::Builder::new()
            .prefix("metrics-adapter-redis-exporter-")
            .tempdir()
            .expect("create redis exporter temp dir");
        let client = http_client();
        for _ in 0..START_ATTEMPTS {
            let address = format!("127.0.0.1:{}", free_port());
            let mut command = Command::new("prometheus-redis-exporter");
            command
                .current_dir(dir.path())
                .args([
                    "-redis.addr",
                    &format!("redis://127.0.0.1:{}", redis.port()),
                ])
                .args(["-web.listen-address", &address])
                .args(["-check-keys", CHECK_KEYS])
                .args(["-check-single-keys", CHECK_SINGLE_KEYS]);
            let mut process = ChildProcess::spawn(
                "prometheus-redis-exporter",
                command,
                &dir.path().join("exporter.log"),
            );
            let url = format!("http://{address}/metrics");
            // Its redis_instance_info names the Redis port: the exporter is ours and connected.
            let marker = format!("tcp_port=\"{}\"", redis.port());
            let probe = || async {
                match client.get(&url).send().await {
                    Ok(response) if response.status().is_success() => response
                        .text()
                        .await
                        .is_ok_and(|body| body.contains(&marker)),
                    _ => false,
                }
            };
            match await_ready(&mut process, probe).await {
                Startup::Ready => {
                    return RedisExporter {
                        process,
                        address,
                        _dir: dir,
                    };
                }
                Startup::PortTaken => continue,
            }
        }
        panic!("prometheus-redis-exporter lost the race for a free port {START_ATTEMPTS} times");
    }

    /// `host:port` as a Prometheus scrape target.
    pub fn target(&self) -> String {
        self.address.clone()
    }

    /// The full URL of its exposition page.
    pub fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.address)
    }

    /// The process id of the exporter.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::support::harness::process_is_running;
    use crate::support::prometheus::Prometheus;

    const STT_QUEUE: &str = "bull:stt-queue:wait";
    const WAIT: Duration = Duration::from_secs(20);

    #[tokio::test]
    async fn resp_client_reads_integers_bulk_strings_arrays_and_errors() {
        let redis = Redis::start().await;
        assert_eq!(redis.push("jobs", 3).await, 3);
        assert_eq!(redis.push("jobs", 2).await, 5);
        assert_eq!(redis.pop("jobs", 4).await, 4);
        assert_eq!(redis.list_len("jobs").await, 1);
        assert_eq!(redis.pop("jobs", 4).await, 1);
        assert_eq!(redis.pop("jobs", 4).await, 0);
        assert_eq!(redis.list_len("jobs").await, 0);

        assert_eq!(redis.command(&["GET", "greeting"]).await, Reply::Bulk(None));
        assert_eq!(
            redis.command(&["SET", "greeting", "hé\r\nllo"]).await,
            Reply::Simple("OK".into())
        );
        assert_eq!(
            redis.command(&["GET", "greeting"]).await,
            Reply::Bulk(Some("hé\r\nllo".as_bytes().to_vec()))
        );
        let Reply::Error(message) = redis.command(&["LLEN", "greeting"]).await else {
            panic!("LLEN on a string must fail");
        };
        assert!(message.starts_with("WRONGTYPE"), "{message}");

        let pid = redis.pid();
        assert!(process_is_running(pid));
        drop(redis);
        assert!(
            !process_is_running(pid),
            "redis-server pid {pid} survived its handle"
        );
    }

    #[tokio::test]
    async fn a_panicking_test_still_ends_its_servers() {
        let pids = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = std::sync::Arc::clone(&pids);
        let failing_test = tokio::spawn(async move {
            let redis = Redis::start().await;
            let exporter = RedisExporter::start(&redis).await;
            seen.lock().unwrap().extend([redis.pid(), exporter.pid()]);
            panic!("the test fails while its servers run");
        });
        assert!(failing_test.await.is_err_and(|e| e.is_panic()));
        let pids = pids.lock().unwrap().clone();
        assert_eq!(pids.len(), 2);
        for pid in pids {
            assert!(
                !process_is_running(pid),
                "pid {pid} outlived a panicking test"
            );
        }
    }

    #[tokio::test]
    async fn exporter_exposes_list_lengths_as_redis_key_size() {
        let redis = Redis::start().await;
        let exporter = RedisExporter::start(&redis).await;
        redis.push(STT_QUEUE, 3).await;
        redis.push("cities", 2).await;
        let client = http_client();
        let scrape = || async {
            let page = client
                .get(exporter.metrics_url())
                .send()
                .await
                .expect("scrape redis exporter")
                .text()
                .await
                .expect("redis exporter page");
            page.lines()
                .filter(|line| line.starts_with("redis_key_size{"))
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            scrape().await,
            [
                r#"redis_key_size{db="db0",key="bull:stt-queue:wait"} 3"#,
                r#"redis_key_size{db="db0",key="cities"} 2"#,
            ]
        );

        // Emptied lists stop existing: the scanned queue disappears, the single key reads 0.
        redis.pop(STT_QUEUE, 3).await;
        redis.pop("cities", 2).await;
        assert_eq!(
            scrape().await,
            [r#"redis_key_size{db="db0",key="cities"} 0"#]
        );

        let (exporter_pid, redis_pid) = (exporter.pid(), redis.pid());
        drop(exporter);
        drop(redis);
        assert!(!process_is_running(exporter_pid), "redis exporter survived");
        assert!(!process_is_running(redis_pid), "redis-server survived");
    }

    #[tokio::test]
    async fn queue_depth_rule_follows_pushes_and_pops() {
        let redis = Redis::start().await;
        let exporter = RedisExporter::start(&redis).await;
        let (record, expr) = QUEUE_DEPTH_RULE;
        let prometheus = Prometheus::builder()
            .scrape("redis", exporter.target())
            .recording_rule(record, expr)
            .start()
            .await;
        let depth = r#"redis_queue_depth{queue_name="stt-queue"}"#;
        let cities = r#"redis_key_size{db="db0",key="cities"}"#;

        assert_eq!(redis.push(STT_QUEUE, 5).await, 5);
        assert_eq!(redis.push("cities", 3).await, 3);
        prometheus.wait_for_value(depth, 5.0, 0.0, WAIT).await;
        prometheus.wait_for_value(cities, 3.0, 0.0, WAIT).await;
        let sample = &prometheus.query(depth).await.samples()[0].clone();
        assert_eq!(sample.label("key"), Some(STT_QUEUE));
        assert_eq!(sample.label("job"), Some("redis"));

        assert_eq!(redis.pop(STT_QUEUE, 3).await, 3);
        prometheus.wait_for_value(depth, 2.0, 0.0, WAIT).await;
        assert_eq!(redis.push(STT_QUEUE, 4).await, 6);
        prometheus.wait_for_value(depth, 6.0, 0.0, WAIT).await;

        // Empty queue: the key is gone, and so is the series (not a 0).
        assert_eq!(redis.pop(STT_QUEUE, 10).await, 6);
        prometheus.wait_for_empty(depth, WAIT).await;
    }
}
