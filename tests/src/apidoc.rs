//! The manual's API reference pages, rendered from the services' OpenAPI
//! descriptions: `make docs-api` writes them, and the docs test fails when
//! the committed pages differ from what the code now describes.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The two descriptions, by the name of their page.
pub fn specs() -> Vec<(&'static str, Value)> {
    vec![
        ("dashboards", serde_json::to_value(dashboards::web::openapi::spec()).expect("the dashboards' description serialises")),
        ("collector", serde_json::to_value(collector::openapi::spec()).expect("the collector's description serialises")),
    ]
}

/// `(path under docs/src/api/, content)` of every generated file.
pub fn pages() -> Vec<(PathBuf, String)> {
    specs()
        .into_iter()
        .flat_map(|(name, spec)| {
            let json = serde_json::to_string_pretty(&spec).expect("serialises") + "\n";
            [(PathBuf::from(format!("{name}.md")), render(name, &spec)), (PathBuf::from(format!("{name}.json")), json)]
        })
        .collect()
}

/// Writes every generated file under `dir` (`docs/src/api`).
pub fn write_all(dir: &Path) -> std::io::Result<()> {
    for (path, text) in pages() {
        std::fs::write(dir.join(path), text)?;
    }
    Ok(())
}

fn schema_name(reference: &str) -> &str {
    reference.rsplit('/').next().unwrap_or(reference)
}

/// A schema as a short type: `string`, `integer?` (nullable), `[Released]`, a link for a `$ref`.
fn type_of(s: &Value) -> String {
    if let Some(r) = s["$ref"].as_str() {
        let name = schema_name(r);
        return format!("[{name}](#{})", name.to_lowercase());
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(alts) = s[key].as_array() {
            let named: Vec<String> = alts.iter().filter(|a| a["type"] != "null").map(type_of).collect();
            let nullable = alts.iter().any(|a| a["type"] == "null");
            return format!("{}{}", named.join(" or "), if nullable { "?" } else { "" });
        }
    }
    let (ty, nullable) = match &s["type"] {
        Value::String(t) => (t.clone(), false),
        Value::Array(ts) => {
            let named: Vec<&str> = ts.iter().filter_map(Value::as_str).filter(|t| *t != "null").collect();
            (named.join(" or "), ts.iter().any(|t| t == "null"))
        }
        _ if s.get("additionalProperties").is_some() => ("object".into(), false),
        _ => ("any".into(), false),
    };
    let ty = match ty.as_str() {
        "array" => format!("[{}]", type_of(&s["items"])),
        "object" if s["additionalProperties"].is_object() && !s["additionalProperties"].as_object().unwrap().is_empty() => {
            format!("map of {}", type_of(&s["additionalProperties"]))
        }
        _ => match s["enum"].as_array() {
            Some(values) => values.iter().map(|v| format!("`{}`", v.as_str().unwrap_or_default())).collect::<Vec<_>>().join(" \\| "),
            None => ty,
        },
    };
    format!("{ty}{}", if nullable { "?" } else { "" })
}

/// Table cells hold no line breaks and no bare pipes.
fn cell(s: &str) -> String {
    s.replace('\n', " ").replace('|', "\\|")
}

fn describe(v: &Value) -> String {
    cell(v["description"].as_str().unwrap_or_default())
}

/// One page: the operations, then the schemas they use.
pub fn render(name: &str, spec: &Value) -> String {
    let mut out = String::new();
    let info = &spec["info"];
    let _ = writeln!(out, "# {}\n", info["title"].as_str().unwrap_or(name));
    let _ = writeln!(
        out,
        "<!-- Generated from the code by `make docs-api` (tests/src/apidoc.rs); the docs test fails when it is out of date. -->\n"
    );
    let _ = writeln!(out, "{}\n", info["description"].as_str().unwrap_or_default());
    let _ = writeln!(out, "The description itself: [`{name}.json`]({name}.json), also served live at `/api/openapi.json`.\n");
    if let Some(schemes) = spec["components"]["securitySchemes"].as_object() {
        let _ = writeln!(out, "**Authentication.**\n");
        for (id, s) in schemes {
            let how = match s["type"].as_str() {
                Some("http") => format!("`Authorization: {} …`", s["scheme"].as_str().map(capitalise).unwrap_or_default()),
                Some("apiKey") => format!("{} `{}`", s["in"].as_str().unwrap_or_default(), s["name"].as_str().unwrap_or_default()),
                _ => String::new(),
            };
            let _ = writeln!(out, "- `{id}`: {how}. {}", s["description"].as_str().unwrap_or_default());
        }
        out.push('\n');
    }
    let tags: Vec<(String, String)> = spec["tags"]
        .as_array()
        .map(|t| t.iter().map(|t| (t["name"].as_str().unwrap_or_default().to_string(), t["description"].as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default();
    let paths = spec["paths"].as_object().expect("paths");
    for (tag, what) in &tags {
        let ops: Vec<(&String, &String, &Value)> = paths
            .iter()
            .flat_map(|(p, item)| item.as_object().unwrap().iter().map(move |(m, op)| (p, m, op)))
            .filter(|(_, _, op)| op["tags"].as_array().is_some_and(|t| t.iter().any(|x| x == tag.as_str())))
            .collect();
        if ops.is_empty() {
            continue;
        }
        let _ = writeln!(out, "## {what}\n");
        for (path, method, op) in ops {
            render_operation(&mut out, path, method, op);
        }
    }
    if let Some(schemas) = spec["components"]["schemas"].as_object() {
        let _ = writeln!(out, "## Schemas\n");
        for (name, s) in schemas {
            let _ = writeln!(out, "### {name}\n");
            if let Some(d) = s["description"].as_str() {
                let _ = writeln!(out, "{d}\n");
            }
            render_schema(&mut out, s);
        }
    }
    out.trim_end().to_string() + "\n"
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

fn render_operation(out: &mut String, path: &str, method: &str, op: &Value) {
    let _ = writeln!(out, "### {} {path}\n", method.to_uppercase());
    for key in ["summary", "description"] {
        if let Some(t) = op[key].as_str() {
            let _ = writeln!(out, "{t}\n");
        }
    }
    if let Some(sec) = op["security"].as_array() {
        let names: Vec<String> = sec.iter().flat_map(|s| s.as_object().unwrap().keys().map(|k| format!("`{k}`"))).collect();
        let _ = writeln!(out, "Authentication: {}.\n", names.join(" or "));
    }
    if let Some(params) = op["parameters"].as_array() {
        let _ = writeln!(out, "| parameter | in | type | required | description |\n|---|---|---|---|---|");
        for p in params {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} |",
                p["name"].as_str().unwrap_or_default(),
                p["in"].as_str().unwrap_or_default(),
                type_of(&p["schema"]),
                if p["required"] == true { "yes" } else { "no" },
                describe(p)
            );
        }
        out.push('\n');
    }
    if let Some(content) = op["requestBody"]["content"].as_object() {
        for (ty, c) in content {
            let body = if c["schema"].is_null() { String::new() } else { format!(": {}", type_of(&c["schema"])) };
            let _ = writeln!(out, "Request body (`{ty}`){body}. {}\n", describe(&op["requestBody"]));
        }
    }
    if let Some(responses) = op["responses"].as_object() {
        let _ = writeln!(out, "| status | meaning | body |\n|---|---|---|");
        for (status, r) in responses {
            let body = r["content"]
                .as_object()
                .map(|c| c.iter().map(|(ty, c)| if c["schema"].is_null() { format!("`{ty}`") } else { type_of(&c["schema"]) }).collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            let _ = writeln!(out, "| {status} | {} | {body} |", describe(r));
        }
        out.push('\n');
    }
}

fn render_schema(out: &mut String, s: &Value) {
    if let Some(props) = s["properties"].as_object() {
        let required: Vec<&str> = s["required"].as_array().map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        let _ = writeln!(out, "| field | type | required | description |\n|---|---|---|---|");
        for (name, p) in props {
            let _ = writeln!(out, "| `{name}` | {} | {} | {} |", type_of(p), if required.contains(&name.as_str()) { "yes" } else { "no" }, describe(p));
        }
        out.push('\n');
    } else if let Some(alts) = s["oneOf"].as_array() {
        let _ = writeln!(out, "One of:\n");
        for a in alts {
            if a["properties"].is_object() {
                render_schema(out, a);
            } else {
                let _ = writeln!(out, "- {}\n", type_of(a));
            }
        }
    } else {
        let _ = writeln!(out, "Type: {}\n", type_of(s));
    }
}
