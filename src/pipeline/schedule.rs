//! `stockroom schedule`: the pipelines' cadences as crontab lines or systemd timer units.
//! stockroom runs no scheduler daemon of its own; cron and systemd already do that well.
//!
//! Every entry runs under `flock -w` on one lock file per pipeline, so a scheduled run waits
//! for the previous one instead of overlapping it (the pipeline's own run lock would make the
//! second one exit with an error instead); `-w 3300` gives up after 55 minutes rather than
//! piling up behind a stuck run.

use std::path::Path;

use crate::pipeline::manifest::{Pipeline, ScheduleDef};

/// Wait at most this long for the previous run (seconds).
const LOCK_WAIT_SECS: u32 = 3300;

/// Quotes a word for the shell (crontab lines and ExecStart= are run by a shell-like parser).
fn sh(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=:+,@".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The command a schedule runs.
pub fn command(p: &Pipeline, s: &ScheduleDef, exe: &Path, warehouse: &Path) -> String {
    let lock = warehouse
        .join("runs")
        .join(format!("{}.schedule.lock", p.name()));
    let mut cmd = format!(
        "flock -w {LOCK_WAIT_SECS} {} {} --warehouse {} pipeline run {}",
        sh(&lock.display().to_string()),
        sh(&exe.display().to_string()),
        sh(&warehouse.display().to_string()),
        sh(p.name())
    );
    if let Some(step) = &s.step {
        cmd.push_str(&format!(" --step {}", sh(step)));
    }
    cmd
}

/// Crontab lines (install with `stockroom schedule | crontab -`; this replaces the user's
/// crontab, so merge by hand if there is one).
pub fn crontab(pipelines: &[&Pipeline], exe: &Path, warehouse: &Path) -> String {
    let mut out = String::from(
        "# stockroom schedules — install: stockroom schedule >> mycron && crontab mycron\n",
    );
    let log = warehouse.join("runs").join("schedule.log");
    for p in pipelines {
        for s in &p.manifest.schedules {
            out.push_str(&format!("# {} {}\n", p.name(), s.name));
            out.push_str(&format!(
                "{} {} >> {} 2>&1\n",
                s.cron,
                command(p, s, exe, warehouse),
                sh(&log.display().to_string())
            ));
        }
    }
    out
}

/// systemd service + timer units, each preceded by the path it belongs at.
pub fn systemd(pipelines: &[&Pipeline], exe: &Path, warehouse: &Path) -> String {
    let mut out = String::from(
        "# stockroom schedules as systemd units: save each under the path in its header, then\n\
         # systemctl daemon-reload && systemctl enable --now <name>.timer\n",
    );
    for p in pipelines {
        for s in &p.manifest.schedules {
            let unit = format!("stockroom-{}-{}", p.name(), s.name);
            let what = match &s.step {
                Some(step) => format!("{} step {step}", p.name()),
                None => format!("{} batch run", p.name()),
            };
            out.push_str(&format!(
                "\n# /etc/systemd/system/{unit}.service\n[Unit]\nDescription=stockroom: {what}\n\n\
                 [Service]\nType=oneshot\nExecStart=/usr/bin/{}\n",
                command(p, s, exe, warehouse)
            ));
            out.push_str(&format!(
                "\n# /etc/systemd/system/{unit}.timer\n[Unit]\nDescription=stockroom: {what} ({})\n\n\
                 [Timer]\nOnCalendar={}\nPersistent=true\n\n[Install]\nWantedBy=timers.target\n",
                s.cron, s.on_calendar
            ));
        }
    }
    out
}
