//! The Argo CD health check of NodeHealths (`charts/nodehealth-operator/argocd/`), laid out as in
//! Argo CD's own repository (`resource_customizations/<group>/<kind>/health.lua`,
//! `health_test.yaml`, `testdata/`) and run as Argo CD runs it: every case of `health_test.yaml`
//! gives `health.lua` the `testdata` object as the global `obj` and compares the status and
//! message it returns. The script runs in `lua5.4` (Debian's package, which `scripts/cluster.sh`
//! installs); Argo CD runs gopher-lua (Lua 5.1), so the script keeps to what both have.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_yaml::Value;

const ARGOCD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/charts/nodehealth-operator/argocd");
const CHECK: &str = "resource_customizations/nodehealth.io/NodeHealth";

/// `health_test.yaml`, in Argo CD's format.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HealthTests {
    tests: Vec<HealthTest>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct HealthTest {
    health_status: HealthStatus,
    input_path: String,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct HealthStatus {
    status: String,
    message: String,
}

fn check_dir() -> PathBuf {
    Path::new(ARGOCD).join(CHECK)
}

/// A Lua string literal holding exactly these bytes.
fn lua_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\{:03}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The YAML object as a Lua table constructor, as Argo CD hands it to the script: maps are tables
/// keyed by strings, lists are sequences, null is nil (a field set to null is absent).
fn lua_value(v: &Value) -> String {
    match v {
        Value::Null => "nil".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            // `{:?}` keeps a decimal point or an exponent, so Lua reads a float.
            (None, Some(f)) if f.is_finite() => format!("{f:?}"),
            _ => panic!("a number Lua cannot hold: {n:?}"),
        },
        Value::String(s) => lua_string(s),
        Value::Sequence(items) => {
            let items: Vec<String> = items.iter().map(lua_value).collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Mapping(map) => {
            let fields: Vec<String> = map
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| {
                    let key = k
                        .as_str()
                        .unwrap_or_else(|| panic!("a key that is not a string: {k:?}"));
                    format!("[{}] = {}", lua_string(key), lua_value(v))
                })
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
        Value::Tagged(t) => panic!("a tagged YAML value: {t:?}"),
    }
}

/// Runs health.lua with `obj` set to `input`, as Argo CD does; the status and message it returns.
fn health_of(script: &Path, input: &Value) -> Result<HealthStatus, String> {
    let set_obj = format!("obj = {}", lua_value(input));
    // The script's return value is Argo CD's health: written as status NUL message.
    let run = format!(
        "local hs = dofile({}) \
         assert(type(hs) == 'table', 'health.lua returned ' .. type(hs)) \
         io.write(tostring(hs.status), '\\0', tostring(hs.message))",
        lua_string(&script.display().to_string())
    );
    let out = Command::new("lua5.4")
        .args(["-e", &set_obj, "-e", &run])
        .output()
        .map_err(|e| format!("lua5.4 (apt-get install lua5.4; scripts/cluster.sh up installs it): {e}"))?;
    if !out.status.success() {
        return Err(format!("lua5.4 failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let stdout = String::from_utf8(out.stdout).map_err(|e| e.to_string())?;
    let (status, message) = stdout
        .split_once('\0')
        .ok_or_else(|| format!("unexpected output: {stdout:?}"))?;
    Ok(HealthStatus {
        status: status.to_owned(),
        message: message.to_owned(),
    })
}

fn health_tests() -> HealthTests {
    let path = check_dir().join("health_test.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_health_check_gives_every_case_of_health_test_yaml_its_status_and_message() {
    let tests = health_tests();
    assert!(!tests.tests.is_empty());
    let script = check_dir().join("health.lua");
    let mut failures = Vec::new();
    for t in &tests.tests {
        let path = check_dir().join(&t.input_path);
        let input: Value = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(input["kind"], "NodeHealth", "{}: a whole NodeHealth", t.input_path);
        match health_of(&script, &input) {
            Ok(got) if got == t.health_status => {}
            Ok(got) => failures.push(format!("{}: got {got:?}, want {:?}", t.input_path, t.health_status)),
            Err(e) => failures.push(format!("{}: {e}", t.input_path)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_runner_can_fail_a_case() {
    // A message health.lua does not give: the comparison is exact, so the runner sees it.
    let script = check_dir().join("health.lua");
    let input: Value =
        serde_yaml::from_str(&std::fs::read_to_string(check_dir().join("testdata/healthy.yaml")).unwrap()).unwrap();
    let got = health_of(&script, &input).unwrap();
    assert_eq!(got.status, "Healthy");
    assert_ne!(got.message, "Policy enforced");
    // And a script error is an error, not a status.
    let broken = std::env::temp_dir().join(format!("nodehealth-broken-health-{}.lua", std::process::id()));
    std::fs::write(&broken, "return obj.status.nothing.here").unwrap();
    let result = health_of(&broken, &input);
    let _ = std::fs::remove_file(&broken);
    assert!(result.is_err(), "{result:?}");
}

#[test]
fn every_testdata_object_is_a_case_and_uses_the_status_vocabulary() {
    let tests = health_tests();
    let listed: Vec<&str> = tests.tests.iter().map(|t| t.input_path.as_str()).collect();
    let mut files: Vec<String> = std::fs::read_dir(check_dir().join("testdata"))
        .unwrap()
        .map(|e| format!("testdata/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    files.sort();
    for f in &files {
        assert!(listed.contains(&f.as_str()), "{f} is in no case of health_test.yaml");
        let obj: Value = serde_yaml::from_str(&std::fs::read_to_string(check_dir().join(f)).unwrap()).unwrap();
        let status = &obj["status"];
        assert!(
            status.get("status").is_none(),
            "{f}: status.status is now status.worstStatus"
        );
        let words = ["Ready", "Affected", "NotReady", "ShuttingDown", "ShutDown", "Panicked"];
        let worst = status.get("worstStatus").into_iter();
        let pods = status["pods"].as_sequence().into_iter().flatten().map(|p| &p["status"]);
        for word in worst.chain(pods) {
            assert!(
                word.as_str().is_some_and(|w| words.contains(&w)),
                "{f}: {word:?} is not one of {words:?}"
            );
        }
    }
    for l in &listed {
        assert!(
            files.iter().any(|f| f == l),
            "health_test.yaml names {l}, which does not exist"
        );
    }
}

#[test]
fn the_argocd_cm_carries_health_lua_exactly() {
    let script = std::fs::read_to_string(check_dir().join("health.lua")).unwrap();
    let cm: Value =
        serde_yaml::from_str(&std::fs::read_to_string(Path::new(ARGOCD).join("argocd-cm.yaml")).unwrap()).unwrap();
    let embedded = cm["data"]["resource.customizations.health.nodehealth.io_NodeHealth"].as_str();
    assert_eq!(
        embedded,
        Some(script.as_str()),
        "argocd-cm.yaml is stale: it must embed {CHECK}/health.lua"
    );
}
