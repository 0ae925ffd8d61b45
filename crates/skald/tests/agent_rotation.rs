//! The agent against fast log rotation (issue #17): every line written reaches Skald
//! whether files are renamed, copied and truncated, deleted or truncated, quickly one
//! after the other, and whether the agent is killed (`kill -9`) and restarted meanwhile.
//! Both binaries run as child processes; arrival is checked through the query API.

mod common;

use common::agent::*;
use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SERVER_CONFIG: &str = "limits_config:\n  discover_service_name: []\n  discover_log_levels: false\n  max_entries_limit_per_query: 100000\n  ingestion_rate_mb: 1000\n  ingestion_burst_size_mb: 1000\n";

/// Lines `from..to` of `job`, appended to `path` (created if missing).
fn write_lines(path: &Path, job: &str, from: usize, to: usize) {
    let text: String = (from..to).map(|i| format!("{job} line {i:06}\n")).collect();
    append(path, &text);
}

fn expected(job: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{job} line {i:06}")).collect()
}

/// Waits until the agent has started its targets (its log says so).
async fn wait_running(agent: &Agent) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !agent.logs().contains("agent running") {
        assert!(Instant::now() < deadline, "agent did not start:\n{}", agent.logs());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An agent config following `glob`, with Promtail's default `target_config.sync_period`
/// (10s): new files must be found by notification, not by the periodic scan.
fn config(server: &Server, dir: &Path, job: &str, glob: &Path) -> String {
    format!(
        "server: {{disable: true}}\npositions: {{filename: {}/positions.yaml, sync_period: 200ms}}\n{}scrape_configs:\n- job_name: {job}\n  static_configs:\n  - labels: {{job: {job}, __path__: '{}'}}\n",
        dir.display(),
        client_yaml(server),
        glob.display()
    )
}

/// How many times each expected line arrived; panics naming the missing ones.
async fn arrived(server: &Server, agent: &Agent, job: &str, want: &[String]) -> BTreeMap<String, usize> {
    let streams = wait_for_lines(server, agent, job, want).await;
    let counts = line_counts(&streams);
    let missing: Vec<&String> = want.iter().filter(|l| !counts.contains_key(*l)).collect();
    assert!(missing.is_empty(), "{} lines missing, first {:?}", missing.len(), missing.iter().take(5).collect::<Vec<_>>());
    counts
}

async fn wait_for_lines(server: &Server, agent: &Agent, job: &str, want: &[String]) -> Streams {
    let query = format!("{{job=\"{job}\"}}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let streams = server.query_streams(&query, now_ns() - 3600 * SECOND, now_ns() + 60 * SECOND, 100_000, None).await;
        if has_all(&streams, want) || Instant::now() > deadline {
            if !has_all(&streams, want) {
                eprintln!("agent logs:\n{}", agent.all_logs());
            }
            return streams;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The scenario that lost lines: a file created just after the agent started, written,
/// rotated by rename, written, copy-truncated, written, the agent killed, written, the
/// agent restarted, written. 700 of 700 lines, 20 runs out of 20.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_rename_copytruncate_kill_restart_delivers_every_line() {
    let server = Server::start(SERVER_CONFIG).await;
    let mut duplicates = 0;
    for run in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        let job = format!("scenario{run}");
        let mut agent = Agent::start(dir.path(), &config(&server, dir.path(), &job, &log));
        wait_running(&agent).await;
        let pause = Duration::from_millis(50);
        write_lines(&log, &job, 0, 140);
        tokio::time::sleep(pause).await;
        std::fs::rename(&log, dir.path().join("app.log.1")).unwrap();
        write_lines(&log, &job, 140, 280);
        tokio::time::sleep(pause).await;
        std::fs::copy(&log, dir.path().join("app.log.2")).unwrap();
        std::fs::OpenOptions::new().write(true).truncate(true).open(&log).unwrap();
        write_lines(&log, &job, 280, 420);
        tokio::time::sleep(pause).await;
        agent.kill9();
        write_lines(&log, &job, 420, 560);
        agent.spawn();
        wait_running(&agent).await;
        write_lines(&log, &job, 560, 700);
        let counts = arrived(&server, &agent, &job, &expected(&job, 700)).await;
        assert_eq!(counts.len(), 700, "run {run}");
        duplicates += counts.values().map(|c| c - 1).sum::<usize>();
    }
    eprintln!("20 runs of 700 lines: every line arrived; {duplicates} duplicates in all (re-sent after kill -9)");
}

/// One log file of the stress test: its path, rotations so far, lines written.
struct LogFile {
    path: PathBuf,
    job: String,
    written: usize,
    rotations: usize,
    /// Rotated in the window from shortly before a kill (the saved position may predate
    /// the rotation) to the restart.
    rotated_in_window: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rotation {
    Rename,
    CopyTruncate,
    Delete,
    Truncate,
}

/// Writers append numbered lines to two files while they are rotated at random by
/// rename + create, copy + truncate, delete + create and truncate, hundreds of times,
/// some within milliseconds of each other, and the agent is killed and restarted at
/// random moments. Afterwards every line written is in Skald.
///
/// What no agent can deliver is left out by construction (docs/agent.md): lines deleted
/// or truncated away before they were read (delete and truncate happen only while the
/// agent runs, once what the file holds has arrived), and files rotated twice between
/// the agent's last saved position and its restart (the one in between is not looked for).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_stress_with_kills_loses_nothing() {
    let server = Server::start(SERVER_CONFIG).await;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let mut files: Vec<LogFile> = ["a", "b"]
        .iter()
        .map(|name| LogFile {
            path: logs.join(format!("{name}.log")),
            job: format!("stress{name}"),
            written: 0,
            rotations: 0,
            rotated_in_window: false,
        })
        .collect();
    let targets: String = files.iter().map(|f| format!("  - labels: {{job: {}, __path__: '{}'}}\n", f.job, f.path.display())).collect();
    let agent_config = format!(
        "server: {{disable: true}}\npositions: {{filename: {}/positions.yaml, sync_period: 200ms}}\n{}scrape_configs:\n- job_name: stress\n  static_configs:\n{targets}",
        dir.path().display(),
        client_yaml(&server),
    );
    let mut agent = Agent::start(dir.path(), &agent_config);
    wait_running(&agent).await;
    // A small deterministic generator (xorshift): the run can be replayed from its seed.
    let seed = now_ns() as u64 | 1;
    let mut state = seed;
    let mut random = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let mut counts: BTreeMap<Rotation, usize> = BTreeMap::new();
    // What was done, for the failure message.
    let mut journal: Vec<String> = Vec::new();
    let (mut kills, mut agent_up) = (0, true);
    let mut next_kill = Instant::now() + Duration::from_millis(1000 + random(2000));
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        let file = &mut files[random(2) as usize];
        let lines = 1 + random(20) as usize;
        write_lines(&file.path, &file.job, file.written, file.written + lines);
        journal.push(format!("{:?} {} wrote {}..{}", started.elapsed(), file.job, file.written, file.written + lines));
        file.written += lines;
        if random(3) == 0 {
            let kind = match random(10) {
                0..=3 => Rotation::Rename,
                4..=6 => Rotation::CopyTruncate,
                7..=8 => Rotation::Delete,
                _ => Rotation::Truncate,
            };
            let destructive = matches!(kind, Rotation::Delete | Rotation::Truncate);
            // Positions are saved every 200 ms after the clients' acknowledgements, so the
            // position a restart resumes from may be up to ~600 ms old: from then until the
            // restart, one rotation per file.
            let in_window = !agent_up || next_kill.saturating_duration_since(Instant::now()) < Duration::from_millis(600);
            let allowed = if in_window { !destructive && !file.rotated_in_window } else { true };
            if allowed {
                if destructive {
                    // Once what the file holds has arrived (nothing unread is destroyed).
                    let want = expected(&file.job, file.written);
                    if !has_all(&wait_for_lines(&server, &agent, &file.job, &want).await, &want) {
                        eprintln!("journal:\n{}", journal.join("\n"));
                    }
                    arrived(&server, &agent, &file.job, &want).await;
                }
                file.rotations += 1;
                let rotated = PathBuf::from(format!("{}.{}", file.path.display(), file.rotations));
                match kind {
                    Rotation::Rename => std::fs::rename(&file.path, &rotated).unwrap(),
                    Rotation::CopyTruncate => {
                        std::fs::copy(&file.path, &rotated).unwrap();
                        std::fs::OpenOptions::new().write(true).truncate(true).open(&file.path).unwrap();
                    }
                    Rotation::Delete => std::fs::remove_file(&file.path).unwrap(),
                    Rotation::Truncate => {
                        std::fs::OpenOptions::new().write(true).truncate(true).open(&file.path).unwrap();
                    }
                }
                file.rotated_in_window |= in_window;
                journal.push(format!("{:?} {} {kind:?} -> {}", started.elapsed(), file.job, rotated.display()));
                *counts.entry(kind).or_default() += 1;
            }
        }
        if Instant::now() >= next_kill {
            journal.push(format!("{:?} agent {}", started.elapsed(), if agent_up { "killed" } else { "restarted" }));
            if agent_up {
                agent.kill9();
                kills += 1;
                next_kill = Instant::now() + Duration::from_millis(100 + random(700));
            } else {
                agent.spawn();
                wait_running(&agent).await;
                files.iter_mut().for_each(|f| f.rotated_in_window = false);
                next_kill = Instant::now() + Duration::from_millis(1000 + random(2500));
            }
            agent_up = !agent_up;
        }
        tokio::time::sleep(Duration::from_millis(random(50))).await;
    }
    if !agent_up {
        agent.spawn();
        wait_running(&agent).await;
    }
    std::fs::write(dir.path().join("journal.txt"), journal.join("\n")).unwrap();
    eprintln!("journal: {}", dir.path().join("journal.txt").display());
    let mut report = Vec::new();
    for file in &files {
        let streams = wait_for_lines(&server, &agent, &file.job, &expected(&file.job, file.written)).await;
        if !has_all(&streams, &expected(&file.job, file.written)) {
            eprintln!("journal:\n{}", journal.join("\n"));
        }
        let counts = arrived(&server, &agent, &file.job, &expected(&file.job, file.written)).await;
        assert_eq!(counts.len(), file.written, "{}: lines that were never written arrived", file.job);
        let duplicated = counts.values().filter(|&&c| c > 1).count();
        assert!(counts.values().all(|&c| c <= 3), "{}: a line arrived more than 3 times", file.job);
        report.push(format!("{}: {} lines, {} rotations, {duplicated} lines duplicated", file.job, file.written, file.rotations));
    }
    assert!(counts.values().sum::<usize>() >= 80, "too few rotations: {counts:?}");
    eprintln!("seed {seed}: {kills} kills, rotations {counts:?}; {}", report.join("; "));
}
