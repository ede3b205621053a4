//! Counters of a stream session: a live line on a terminal, a summary at the end.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

/// What a stream session did.
#[derive(Debug, Clone, Serialize, Default)]
pub struct StreamSummary {
    pub pipeline: String,
    pub run_id: String,
    pub input: String,
    /// Non-blank lines read (each got a seq).
    pub events_read: u64,
    pub events_accepted: u64,
    pub events_rejected: u64,
    /// inserted / updated / deleted / not_found.
    pub outcomes: BTreeMap<String, u64>,
    pub reasons: BTreeMap<String, u64>,
    pub batches: u64,
    pub delta_commits: u64,
    pub maintenance_runs: u64,
    pub first_seq: i64,
    pub last_seq: i64,
    /// Rows a previous crash left without their inventory commit, removed at start.
    pub rolled_back: u64,
    pub resumed_at_offset: u64,
    /// Why the input was not simply resumed (a file streamed before under another name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_note: Option<String>,
    /// Bytes of a last line without its newline, left unread (see `--finished`).
    pub unterminated_bytes: u64,
    pub seconds: f64,
    pub events_per_second: f64,
    /// Read → committed, the last batch's oldest event.
    pub last_lag_ms: f64,
    /// Why the stream stopped: end of input, a signal, or idle (`--until-idle`).
    pub stopped_by: String,
    /// Kafka: records between the committed offsets and the brokers' ends (summed over the
    /// partitions read), as of the last fetch; None for other inputs or before every
    /// partition answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer_lag: Option<u64>,
    /// Kafka: the next offset of every partition read, as committed (partition → offset).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub kafka_offsets: BTreeMap<String, i64>,
    /// Kafka: times a partition was read again after its broker had been unreachable.
    #[serde(skip_serializing_if = "is_zero")]
    pub kafka_reconnects: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl StreamSummary {
    pub fn rate(&self, elapsed: Duration) -> f64 {
        let s = elapsed.as_secs_f64();
        if s > 0.0 {
            self.events_read as f64 / s
        } else {
            0.0
        }
    }

    /// The one-line live view: events/s, lag, commits.
    pub fn live_line(&self, started: Instant) -> String {
        let mut line = format!(
            "{} events ({:.0}/s), {} accepted, {} rejected, {} batches, {} commits, lag {:.0} ms, seq {}",
            self.events_read,
            self.rate(started.elapsed()),
            self.events_accepted,
            self.events_rejected,
            self.batches,
            self.delta_commits,
            self.last_lag_ms,
            self.last_seq
        );
        if let Some(l) = self.consumer_lag {
            line.push_str(&format!(", consumer lag {l}"));
        }
        line
    }

    /// The end-of-session report (several lines).
    pub fn report(&self) -> String {
        let mut s = format!(
            "stream {} ({}): {} events in {:.2}s ({:.0}/s): {} accepted, {} rejected; {} batches, {} Delta commits, {} maintenance runs; seq {}..{}; stopped by {}",
            self.pipeline,
            self.input,
            self.events_read,
            self.seconds,
            self.events_per_second,
            self.events_accepted,
            self.events_rejected,
            self.batches,
            self.delta_commits,
            self.maintenance_runs,
            self.first_seq,
            self.last_seq,
            self.stopped_by
        );
        if !self.kafka_offsets.is_empty() {
            let o: Vec<String> = self
                .kafka_offsets
                .iter()
                .map(|(p, o)| format!("{p}@{o}"))
                .collect();
            s.push_str(&format!(
                "\n  kafka: next offsets {}; consumer lag {}; {} reconnects",
                o.join(", "),
                self.consumer_lag
                    .map_or_else(|| "unknown".to_string(), |l| l.to_string()),
                self.kafka_reconnects
            ));
        }
        if self.rolled_back > 0 {
            s.push_str(&format!(
                "\n  rolled back {} rows of an interrupted batch before resuming",
                self.rolled_back
            ));
        }
        if !self.outcomes.is_empty() {
            let o: Vec<String> = self
                .outcomes
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            s.push_str(&format!("\n  outcomes: {}", o.join(", ")));
        }
        if !self.reasons.is_empty() {
            let r: Vec<String> = self
                .reasons
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            s.push_str(&format!("\n  rejected: {}", r.join(", ")));
        }
        s
    }
}
