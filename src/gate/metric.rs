//! Reading a number out of a check's output: a JSONPath into JSON on stdout (`json_stdout`), or
//! `METRIC name=value` lines (`metric_lines`). Every failure is a message that says what was
//! expected.

use jsonpath_rust::JsonPath;
use serde_json::Value;

use crate::task::contract::NumericCompletion;
use crate::task::model::describe;

/// The metric's value in one check's stdout.
pub fn read(completion: &NumericCompletion, stdout: &str) -> Result<f64, String> {
    match completion.source.as_str() {
        "json_stdout" => from_json(stdout, &completion.json_path),
        "metric_lines" => from_lines(stdout, metric_name(completion)),
        other => Err(format!(
            "unsupported metric source {other:?} (use \"json_stdout\" or \"metric_lines\")"
        )),
    }
}

/// The name a metric is reported under.
pub fn metric_name(completion: &NumericCompletion) -> &str {
    if completion.name.trim().is_empty() {
        "metric"
    } else {
        completion.name.trim()
    }
}

/// Evaluates `json_path` (RFC 9535 JSONPath; a missing leading `$` is added) on stdout.
pub fn from_json(stdout: &str, json_path: &str) -> Result<f64, String> {
    let path = json_path.trim();
    if path.is_empty() {
        return Err("completion.json_path is empty".into());
    }
    let path = if path.starts_with('$') {
        path.to_string()
    } else {
        format!("$.{}", path.trim_start_matches('.'))
    };
    let text = stdout.trim();
    if text.is_empty() {
        return Err("the check printed nothing on stdout (expected JSON)".into());
    }
    let document: Value = serde_json::from_str(text)
        .map_err(|e| format!("the check's stdout is not one JSON document: {e}"))?;
    let found = document
        .query(&path)
        .map_err(|e| format!("json_path {json_path:?} is not valid JSONPath: {e}"))?;
    match found.as_slice() {
        [] => Err(format!(
            "json_path {json_path:?} matched nothing in the output"
        )),
        [value] => match value {
            Value::Number(n) => n
                .as_f64()
                .ok_or_else(|| format!("json_path {json_path:?} gave a number out of range")),
            other => Err(format!(
                "json_path {json_path:?} gave {} instead of a number",
                describe(other)
            )),
        },
        many => Err(format!(
            "json_path {json_path:?} matched {} values; it must select exactly one",
            many.len()
        )),
    }
}

/// The last `METRIC <name>=<value>` line on stdout.
pub fn from_lines(stdout: &str, name: &str) -> Result<f64, String> {
    let mut last = None;
    for line in stdout.lines() {
        let Some(rest) = line.trim().strip_prefix("METRIC ") else {
            continue;
        };
        let Some((key, value)) = rest.split_once('=') else {
            continue;
        };
        if key.trim() == name {
            last = Some(value.trim().to_string());
        }
    }
    let value = last.ok_or_else(|| format!("no `METRIC {name}=<number>` line on stdout"))?;
    value
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("`METRIC {name}={value}` is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths_select_one_number() {
        let out = r#"{"metrics": {"latency_ms": 12.5, "runs": [3, 4]}, "ok": true, "name": "x"}"#;
        let cases: &[(&str, Result<f64, &str>)] = &[
            ("$.metrics.latency_ms", Ok(12.5)),
            ("metrics.latency_ms", Ok(12.5)),
            ("$.metrics.runs[1]", Ok(4.0)),
            ("$['metrics']['latency_ms']", Ok(12.5)),
            ("$.metrics.missing", Err("matched nothing")),
            ("$.ok", Err("a boolean instead of a number")),
            ("$.name", Err("a string instead of a number")),
            ("$.metrics.runs[*]", Err("matched 2 values")),
            ("$.metrics[", Err("not valid JSONPath")),
            ("", Err("json_path is empty")),
        ];
        for (path, expected) in cases {
            match (from_json(out, path), expected) {
                (Ok(v), Ok(e)) => assert_eq!(v, *e, "{path}"),
                (Err(msg), Err(e)) => assert!(msg.contains(e), "{path}: {msg}"),
                (got, want) => panic!("{path}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn stdout_must_be_json() {
        assert!(
            from_json("", "$.a")
                .unwrap_err()
                .contains("printed nothing")
        );
        assert!(
            from_json("not json", "$.a")
                .unwrap_err()
                .contains("not one JSON document")
        );
        assert!(
            from_json("{} {}", "$.a")
                .unwrap_err()
                .contains("not one JSON document")
        );
    }

    #[test]
    fn metric_lines_take_the_last_value_of_the_name() {
        let out = "warming up\nMETRIC latency=120\nMETRIC other=1\nMETRIC latency = 98.5\n";
        assert_eq!(from_lines(out, "latency"), Ok(98.5));
        assert!(
            from_lines(out, "missing")
                .unwrap_err()
                .contains("no `METRIC missing")
        );
        assert!(
            from_lines("METRIC x=fast", "x")
                .unwrap_err()
                .contains("not a number")
        );
    }
}
