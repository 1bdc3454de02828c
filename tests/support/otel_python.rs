//! Services no one here wrote: the Python programs in `tests/support/otel_python/`,
//! instrumented only with the OpenTelemetry Python SDK and its official `requests` and Flask
//! instrumentations, run from the venv `scripts/otel-python/install.sh` makes
//! (`MONITOR_OTEL_PYTHON_VENV`, default `.venv-otel`). Under `CI`, a missing venv fails the
//! test instead of skipping it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The venv's Python, if the venv is installed; fails under CI when it is not.
pub fn python() -> Option<PathBuf> {
    let venv = std::env::var_os("MONITOR_OTEL_PYTHON_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv-otel"));
    let python = venv.join("bin").join("python");
    if python.exists() {
        return Some(python);
    }
    let what = "no OpenTelemetry Python venv (.venv-otel)";
    if std::env::var_os("CI").is_some() {
        panic!("{what}; run the tests through ./scripts/test.sh, which installs it");
    }
    eprintln!("skipping: {what} (run ./scripts/otel-python/install.sh)");
    None
}

fn script(name: &str) -> PathBuf {
    repo_root().join("tests/support/otel_python").join(name)
}

/// Where the Python services send their spans: OTLP/HTTP `traces_endpoint`, into the
/// Phoenix project `project`.
#[derive(Clone, Debug)]
pub struct Export {
    pub traces_endpoint: String,
    pub project: String,
}

fn command(python: &PathBuf, name: &str, export: &Export) -> Command {
    let mut command = Command::new(python);
    command
        .arg(script(name))
        .env("OTLP_TRACES_ENDPOINT", &export.traces_endpoint)
        .env("PHOENIX_PROJECT", &export.project)
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    command
}

/// The Flask service (`server.py`), answering `GET /lookup?q=` on 127.0.0.1; killed on drop.
pub struct FlaskService {
    child: Child,
    pub port: u16,
}

impl FlaskService {
    pub fn start(python: &PathBuf, export: &Export) -> FlaskService {
        let mut child = command(python, "server.py", export)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the Flask service");
        let stdout = child.stdout.take().expect("piped");
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("the Flask service's port");
        let port = first
            .trim()
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the Flask service printed {first:?}, not its port"));
        FlaskService { child, port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for FlaskService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the Python client (`client.py`) saw: its trace and the response.
#[derive(Debug)]
pub struct ClientRun {
    pub trace_id: String,
    pub status: u16,
    pub body: String,
}

/// Runs the Python client once against `url` (one root span around one `requests.get`).
pub fn run_client(python: &PathBuf, export: &Export, url: &str) -> ClientRun {
    let output = command(python, "client.py", export)
        .arg(url)
        .output()
        .expect("run the Python client");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(str::to_owned)
            .unwrap_or_else(|| {
                panic!(
                    "the Python client printed no {name:?}: {stdout}\n{}",
                    String::from_utf8_lossy(&output.stderr)
                )
            })
    };
    ClientRun {
        trace_id: field("trace "),
        status: field("status ").parse().expect("a status code"),
        body: stdout.lines().skip(2).collect::<Vec<_>>().join("\n"),
    }
}
