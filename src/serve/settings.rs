//! The `SET` / `RESET` a client of `stockroom serve` may send: an allow-list of settings that
//! are safe per connection. Everything else — DataFusion's runtime (memory limit, spill
//! directory), execution, optimizer and catalog settings — is refused with SQLSTATE 42501,
//! so one client cannot change what the server promised the others.

use std::time::Duration;

use datafusion::sql::sqlparser::ast::{Expr, Set, Statement as SqlStatement, Value};
use datafusion_postgres::QueryHook;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::pgwire;
use pgwire::api::results::{Response, Tag};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::startup::ParameterStatus;

use super::connection::ConnState;
use crate::exec::Executor;

/// Settings answered by datafusion-postgres' own hook: they only change how this
/// connection's values are formatted or named.
const FORMAT_SETTINGS: &[&str] = &[
    "application_name",
    "datestyle",
    "extra_float_digits",
    "bytea_output",
    "intervalstyle",
    "search_path",
];

/// Settings drivers send that change nothing here; accepted so drivers connect.
const NO_OP_SETTINGS: &[&str] = &[
    "client_min_messages",
    "standard_conforming_strings",
    "lock_timeout",
    "idle_in_transaction_session_timeout",
    "default_transaction_isolation",
    "default_transaction_read_only",
    "jit",
    "lc_messages",
    "lc_monetary",
    "lc_numeric",
    "lc_time",
];

/// Is this statement a `SET` / `RESET` (answered here, never by the executor)?
pub fn is_setting(stmt: &SqlStatement) -> bool {
    matches!(stmt, SqlStatement::Set(_) | SqlStatement::Reset(_))
}

fn refused(what: &str) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        "42501".into(),
        crate::Error::SettingRefused(what.to_string()).to_string(),
    )))
}

fn invalid(message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        "22023".into(),
        message,
    )))
}

fn text_of(values: &[Expr]) -> String {
    values
        .iter()
        .map(|v| match v {
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
                other => other.to_string(),
            },
            Expr::Identifier(i) => i.value.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Postgres' `statement_timeout` forms: a number of milliseconds, or `500ms`, `30s`,
/// `5min`, `1h`.
fn parse_timeout(text: &str) -> Option<Duration> {
    let t = text.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)?;
    let ms = match unit.trim() {
        "" | "ms" => n,
        "s" => n * 1000.0,
        "min" => n * 60_000.0,
        "h" => n * 3_600_000.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(ms / 1000.0))
}

/// Answers a `SET` / `RESET` for one connection.
pub async fn handle<C>(
    stmt: &SqlStatement,
    exec: &Executor,
    conn: &ConnState,
    server_timeout: Option<Duration>,
    client: &mut C,
) -> PgWireResult<Response>
where
    C: HookClient,
{
    match stmt {
        SqlStatement::Set(Set::SetTimeZone {
            local: false,
            value,
        }) => set_time_zone(exec, &text_of(std::slice::from_ref(value)), client).await,
        SqlStatement::Set(Set::SingleAssignment {
            scope: None,
            hivevar: false,
            variable,
            values,
        }) => {
            let name = variable.to_string().trim_matches('"').to_ascii_lowercase();
            let value = text_of(values);
            match name.as_str() {
                "timezone" | "time zone" => set_time_zone(exec, &value, client).await,
                "statement_timeout" => {
                    let Some(t) = parse_timeout(&value) else {
                        return Err(invalid(format!(
                            "invalid value for statement_timeout: '{value}' (e.g. 5000, '30s', '5min')"
                        )));
                    };
                    if let Some(max) = server_timeout
                        && t > max
                    {
                        return Err(invalid(format!(
                            "statement_timeout can be at most {max:?} on this server (its --query-timeout)"
                        )));
                    }
                    conn.set_statement_timeout((!t.is_zero()).then_some(t));
                    Ok(Response::Execution(Tag::new("SET")))
                }
                "client_encoding" | "names" => {
                    let v = value.to_ascii_lowercase().replace(['-', '_'], "");
                    if v == "utf8" || v == "unicode" {
                        Ok(Response::Execution(Tag::new("SET")))
                    } else {
                        Err(invalid(format!(
                            "client_encoding '{value}' is not supported: this server speaks UTF8 only"
                        )))
                    }
                }
                n if FORMAT_SETTINGS.contains(&n) => {
                    match SetShowHook
                        .handle_simple_query(stmt, exec.context(), client)
                        .await
                    {
                        Some(r) => r,
                        None => Ok(Response::Execution(Tag::new("SET"))),
                    }
                }
                n if NO_OP_SETTINGS.contains(&n) => Ok(Response::Execution(Tag::new("SET"))),
                _ => Err(refused(&format!("SET {name}"))),
            }
        }
        SqlStatement::Set(Set::SetNames { charset_name, .. }) => {
            let v = charset_name.to_string().to_ascii_lowercase();
            if v.trim_matches('\'') == "utf8" {
                Ok(Response::Execution(Tag::new("SET")))
            } else {
                Err(invalid(format!(
                    "SET NAMES {v}: this server speaks UTF8 only"
                )))
            }
        }
        SqlStatement::Reset(r) => {
            let text = r.to_string();
            let name = text
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .trim()
                .trim_matches('"')
                .to_ascii_lowercase();
            match name.as_str() {
                "statement_timeout" | "all" => {
                    conn.set_statement_timeout(None);
                    Ok(Response::Execution(Tag::new("RESET")))
                }
                n if n == "timezone"
                    || FORMAT_SETTINGS.contains(&n)
                    || NO_OP_SETTINGS.contains(&n) =>
                {
                    Ok(Response::Execution(Tag::new("RESET")))
                }
                _ => Err(refused(&format!("RESET {name}"))),
            }
        }
        SqlStatement::Set(other) => Err(refused(&format!("SET {other}"))),
        other => Err(refused(&other.to_string())),
    }
}

/// `SET TIME ZONE` / `SET timezone`: this connection's session time zone.
async fn set_time_zone<C>(exec: &Executor, value: &str, client: &mut C) -> PgWireResult<Response>
where
    C: HookClient,
{
    let tz = value.trim();
    let tz = if tz.eq_ignore_ascii_case("local") || tz.eq_ignore_ascii_case("default") {
        "UTC"
    } else {
        tz
    };
    if tz
        .parse::<datafusion::arrow::array::timezone::Tz>()
        .is_err()
    {
        return Err(invalid(format!(
            "invalid time zone '{tz}': use a name such as 'Europe/Berlin', 'UTC' or an offset such as '+02:00'"
        )));
    }
    {
        let state = exec.context().state_ref();
        let mut state = state.write();
        state.config_mut().options_mut().execution.time_zone = Some(tz.to_string());
    }
    client
        .send_message(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
            "TimeZone".to_string(),
            tz.to_string(),
        )))
        .await?;
    Ok(Response::Execution(Tag::new("SET")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_timeout_forms() {
        assert_eq!(parse_timeout("5000"), Some(Duration::from_secs(5)));
        assert_eq!(parse_timeout("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_timeout("2min"), Some(Duration::from_secs(120)));
        assert_eq!(parse_timeout("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_timeout("0"), Some(Duration::ZERO));
        assert_eq!(parse_timeout("soon"), None);
        assert_eq!(parse_timeout("-1"), None);
    }
}
