//! Finding the JSON object in a model's answer: models wrap it in ```json fences, put prose
//! before it, or add a remark after it.

use serde_json::{Map, Value};

/// The first JSON object in `answer`: inside a fenced block if there is one, otherwise the first
/// `{` at which a whole object parses (trailing text is ignored).
pub fn extract_object(answer: &str) -> Result<Map<String, Value>, String> {
    let text = answer.trim();
    if text.is_empty() {
        return Err("the answer is empty".into());
    }
    let mut candidates: Vec<&str> = fenced_blocks(text);
    candidates.push(text);
    let mut first_error = None;
    for candidate in candidates {
        for (start, _) in candidate.match_indices('{') {
            let mut stream =
                serde_json::Deserializer::from_str(&candidate[start..]).into_iter::<Value>();
            match stream.next() {
                Some(Ok(Value::Object(map))) => return Ok(map),
                Some(Err(e)) => {
                    first_error.get_or_insert_with(|| e.to_string());
                }
                _ => {}
            }
        }
    }
    Err(match first_error {
        Some(e) => format!("no JSON object could be read ({e})"),
        None => "the answer contains no JSON object".into(),
    })
}

/// The contents of ``` fenced blocks, in order.
fn fenced_blocks(text: &str) -> Vec<&str> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("```") {
        let after = &rest[open + 3..];
        // Skip the info string (`json`) up to the end of the line.
        let body_start = after.find('\n').map_or(after.len(), |i| i + 1);
        let body = &after[body_start..];
        match body.find("```") {
            Some(close) => {
                blocks.push(&body[..close]);
                rest = &body[close + 3..];
            }
            None => break,
        }
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_found_in_fences_prose_and_trailing_text() {
        let cases = [
            r#"{"a": 1}"#,
            "```json\n{\"a\": 1}\n```",
            "Here is the plan:\n```\n{\"a\": 1}\n```\nDone.",
            "Sure! {\"a\": 1} Let me know.",
            "I think {braces} are fun. {\"a\": 1}",
        ];
        for case in cases {
            let map = extract_object(case).unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(map["a"], 1, "{case}");
        }
    }

    #[test]
    fn failures_say_why() {
        assert!(extract_object("  ").unwrap_err().contains("empty"));
        assert!(
            extract_object("no json here")
                .unwrap_err()
                .contains("no JSON object")
        );
        assert!(
            extract_object("{\"a\": }")
                .unwrap_err()
                .contains("could be read")
        );
    }
}
