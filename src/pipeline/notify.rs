//! Notifications (the AWS originals' SNS topics): one JSON line appended to
//! `runs/notifications.jsonl` per run, and the same JSON POSTed to a webhook if configured.
//! A webhook that fails is reported on stderr; it never fails the run.

use std::path::Path;

use serde::Serialize;

use crate::error::Result;

#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    pub level: String,
    pub pipeline: String,
    pub run_id: String,
    pub status: String,
    pub message: String,
}

pub async fn send(runs_dir: &Path, n: &Notification, webhook: Option<&str>) -> Result<()> {
    let path = runs_dir.join("notifications.jsonl");
    crate::storage::append_line(&path, &serde_json::to_string(n)?)?;
    if let Some(url) = webhook {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build();
        let res = match client {
            Ok(c) => c
                .post(url)
                .header("content-type", "application/json")
                .body(serde_json::to_string(n)?)
                .send()
                .await
                .map(|r| r.status()),
            Err(e) => Err(e),
        };
        match res {
            Ok(s) if s.is_success() => {}
            Ok(s) => eprintln!("warning: webhook {url} answered {s}"),
            Err(e) => eprintln!("warning: webhook {url} failed: {e}"),
        }
    }
    Ok(())
}
