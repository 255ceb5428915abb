//! The standard process metrics (`process_cpu_seconds_total`, `process_resident_memory_bytes`,
//! `process_open_fds` …), read from `/proc/self` at each scrape, as Prometheus' own client
//! libraries export them. Nothing is exported on systems without `/proc`.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

/// Linux reports CPU times in clock ticks of `USER_HZ`, 100 per second on every architecture's
/// user-space ABI.
const TICKS_PER_SECOND: f64 = 100.0;

/// The names the collector exports, where `/proc` has them.
pub(super) const PROCESS_METRICS: [&str; 6] = [
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_start_time_seconds",
    "process_open_fds",
    "process_max_fds",
];

/// Reads the process metrics at scrape time.
#[derive(Debug)]
pub struct ProcessCollector;

/// What `/proc/self` says.
#[derive(Debug, Default, PartialEq)]
pub(super) struct ProcessStats {
    pub cpu_seconds: Option<f64>,
    pub resident_bytes: Option<f64>,
    pub virtual_bytes: Option<f64>,
    pub start_time_seconds: Option<f64>,
    pub open_fds: Option<f64>,
    pub max_fds: Option<f64>,
}

/// The fields of `/proc/self/stat` after the command name (which may hold spaces and
/// parentheses: everything up to the last `)` is skipped), numbered as in proc(5) from 3.
fn stat_fields(stat: &str) -> Vec<&str> {
    stat.rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default()
}

/// Field `n` (proc(5) numbering) of the fields after the command name.
fn stat_field(fields: &[&str], n: usize) -> Option<f64> {
    fields.get(n.checked_sub(3)?)?.parse().ok()
}

/// A `Key:   1234 kB` line of `/proc/self/status`, in bytes.
fn status_kib(status: &str, key: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

/// The boot time from `/proc/stat` (`btime <seconds>`).
fn boot_time(stat: &str) -> Option<f64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

/// `Max open files  <soft> <hard> files` of `/proc/self/limits`.
fn max_open_files(limits: &str) -> Option<f64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

impl ProcessStats {
    /// Parse the contents of `/proc/self/stat`, `/proc/self/status`, `/proc/stat` and
    /// `/proc/self/limits`, and the number of entries of `/proc/self/fd`.
    pub(super) fn parse(
        self_stat: &str,
        self_status: &str,
        system_stat: &str,
        limits: &str,
        open_fds: Option<usize>,
    ) -> ProcessStats {
        let fields = stat_fields(self_stat);
        let ticks = |n| stat_field(&fields, n);
        ProcessStats {
            cpu_seconds: ticks(14)
                .zip(ticks(15))
                .map(|(user, system)| (user + system) / TICKS_PER_SECOND),
            resident_bytes: status_kib(self_status, "VmRSS:"),
            virtual_bytes: ticks(23),
            start_time_seconds: ticks(22)
                .zip(boot_time(system_stat))
                .map(|(start, boot)| boot + start / TICKS_PER_SECOND),
            open_fds: open_fds.map(|n| n as f64),
            max_fds: max_open_files(limits),
        }
    }

    fn read() -> ProcessStats {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|entries| entries.count());
        ProcessStats::parse(
            &read("/proc/self/stat"),
            &read("/proc/self/status"),
            &read("/proc/stat"),
            &read("/proc/self/limits"),
            open_fds,
        )
    }
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: Option<f64>,
) -> Result<(), std::fmt::Error> {
    if let Some(value) = value {
        let gauge = ConstGauge::new(value);
        gauge.encode(encoder.encode_descriptor(name, help, unit, gauge.metric_type())?)?;
    }
    Ok(())
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = ProcessStats::read();
        if let Some(seconds) = stats.cpu_seconds {
            let counter = ConstCounter::new(seconds);
            counter.encode(encoder.encode_descriptor(
                "process_cpu",
                "Total user and system CPU time spent in seconds.",
                Some(&Unit::Seconds),
                counter.metric_type(),
            )?)?;
        }
        gauge(
            &mut encoder,
            "process_resident_memory",
            "Resident memory size in bytes.",
            Some(&Unit::Bytes),
            stats.resident_bytes,
        )?;
        gauge(
            &mut encoder,
            "process_virtual_memory",
            "Virtual memory size in bytes.",
            Some(&Unit::Bytes),
            stats.virtual_bytes,
        )?;
        gauge(
            &mut encoder,
            "process_start_time",
            "Start time of the process since the Unix epoch in seconds.",
            Some(&Unit::Seconds),
            stats.start_time_seconds,
        )?;
        gauge(
            &mut encoder,
            "process_open_fds",
            "Number of open file descriptors.",
            None,
            stats.open_fds,
        )?;
        gauge(
            &mut encoder,
            "process_max_fds",
            "Maximum number of open file descriptors.",
            None,
            stats.max_fds,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_are_read_as_proc5_describes_them() {
        let stats = ProcessStats::parse(
            "4242 (metrics (adapter)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 9 0 \
             12345 104857600 2560 18446744073709551615",
            "Name:\tmetrics-adapter\nVmRSS:\t   10240 kB\nThreads:\t9\n",
            "cpu  1 2 3\nbtime 1700000000\nprocesses 10\n",
            "Limit                     Soft Limit           Hard Limit           Units\n\
             Max open files            1048576              1048576              files\n",
            Some(17),
        );
        assert_eq!(
            stats,
            ProcessStats {
                cpu_seconds: Some(3.0),
                resident_bytes: Some(10240.0 * 1024.0),
                virtual_bytes: Some(104_857_600.0),
                start_time_seconds: Some(1_700_000_000.0 + 123.45),
                open_fds: Some(17.0),
                max_fds: Some(1_048_576.0),
            }
        );
        assert_eq!(
            ProcessStats::parse("", "", "", "", None),
            ProcessStats::default()
        );
    }
}
