//! What a process has used, from `/proc`: CPU seconds, memory, context switches.

use std::path::Path;

/// The fields of `/proc/<pid>/stat` after the parenthesised command name (which itself may
/// contain spaces): the state first; none when there is no such process.
pub fn stat_fields(pid: u32) -> Vec<String> {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let (_, rest) = stat.rsplit_once(')')?;
            Some(rest.split_whitespace().map(str::to_string).collect())
        })
        .unwrap_or_default()
}

/// CPU seconds (user and system) a process has used: `utime` and `stime`, fields 14 and 15 of
/// its stat (12 and 13 after the command name), in ticks of 1/100 s.
pub fn cpu_seconds(pid: u32) -> f64 {
    let fields = stat_fields(pid);
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// A number of `/proc/<pid>/status` (`VmRSS` and `VmHWM` in KiB, `voluntary_ctxt_switches`);
/// 0 when the process or the field is missing.
pub fn status(pid: u32, field: &str) -> u64 {
    status_field(&read(Path::new(&format!("/proc/{pid}/status"))), field)
}

/// Context switches of all the threads of a process, voluntary (waiting for work or a lock)
/// and not: how often its threads were put to sleep and woken.
pub fn context_switches(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|task| {
            let status = read(&task.path().join("status"));
            status_field(&status, "voluntary_ctxt_switches")
                + status_field(&status, "nonvoluntary_ctxt_switches")
        })
        .sum()
}

/// A file's text, empty when it cannot be read (the process or thread has gone).
fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The number after `field:` in a status file's text, 0 when absent.
fn status_field(status: &str, field: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
