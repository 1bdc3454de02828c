//! Artifacts (list, download, upload) and the model registry (register a version, read it,
//! point an alias at it).

use reqwest::Method;
use serde_json::json;

use super::transport::{percent_encode, Failure};
use super::types::{FileInfo, ModelVersion};
use super::MlflowClient;
use crate::error::{Error, Result};

impl MlflowClient {
    /// The artifacts of a run under `path` (`""` for the root).
    pub fn list_artifacts(&self, run_id: &str, path: &str) -> Result<Vec<FileInfo>> {
        let v = self.get(
            "/api/2.0/mlflow/artifacts/list",
            &[("run_id", run_id), ("path", path)],
        )?;
        Ok(serde_json::from_value(v["files"].clone()).unwrap_or_default())
    }

    /// Downloads one artifact of a run through the server's artifact proxy.
    pub fn download_artifact(&self, run_id: &str, path: &str) -> Result<Vec<u8>> {
        let run = self.get_run(run_id)?;
        let url = artifact_url(
            &run.info.artifact_uri,
            &crate::mlflow::validate::artifact_path(path)?,
        )
        .ok_or_else(|| {
            Error::Mlflow(format!(
                "run {run_id} does not store artifacts through the server's proxy"
            ))
        })?;
        let mut attempt = 0;
        loop {
            match self.send(Method::GET, &url, None) {
                Ok(b) => return Ok(b),
                Err(Failure::Retryable(r)) if attempt < self.max_retries => {
                    attempt += 1;
                    std::thread::sleep(self.wait(attempt, &r));
                }
                Err(f) => return Err(f.into_error()),
            }
        }
    }

    /// Registers the artifacts at `artifact_path` of run `run_id` as a new version of the
    /// registered model `model_name` (created if missing).
    pub fn register_model(
        &self,
        run_id: &str,
        artifact_path: &str,
        model_name: &str,
    ) -> Result<ModelVersion> {
        let artifact_path = crate::mlflow::validate::artifact_path(artifact_path)?;
        match self.call(
            Method::POST,
            "/api/2.0/mlflow/registered-models/create",
            Some(&json!({ "name": model_name })),
        ) {
            Ok(_) => {}
            Err(Error::MlflowServer { error_code, .. })
                if error_code == "RESOURCE_ALREADY_EXISTS" => {}
            Err(e) => return Err(e),
        }
        let body = json!({
            "name": model_name,
            "source": format!("runs:/{run_id}/{artifact_path}"),
            "run_id": run_id,
        });
        let v = self.call(
            Method::POST,
            "/api/2.0/mlflow/model-versions/create",
            Some(&body),
        )?;
        Ok(serde_json::from_value(v["model_version"].clone())?)
    }

    /// One version of a registered model.
    pub fn get_model_version(&self, model_name: &str, version: &str) -> Result<ModelVersion> {
        let v = self.get(
            "/api/2.0/mlflow/model-versions/get",
            &[("name", model_name), ("version", version)],
        )?;
        Ok(serde_json::from_value(v["model_version"].clone())?)
    }

    /// Points `alias` (e.g. `champion`) of a registered model at `version`.
    pub fn set_model_alias(&self, model_name: &str, alias: &str, version: &str) -> Result<()> {
        let body = json!({ "name": model_name, "alias": alias, "version": version });
        self.call(
            Method::POST,
            "/api/2.0/mlflow/registered-models/alias",
            Some(&body),
        )
        .map(drop)
    }
}

impl MlflowClient {
    // ---- used by the worker (one attempt) ----

    pub(crate) fn try_upload(
        &self,
        run_id: &str,
        artifact_uri: &str,
        path: &str,
        bytes: Vec<u8>,
    ) -> std::result::Result<(), Failure> {
        let ct = mime_for(path);
        match artifact_url(artifact_uri, path) {
            Some(url) => self.send(Method::PUT, &url, Some((ct, bytes))).map(drop),
            None => {
                // The server does not proxy artifacts (`--no-serve-artifacts`): its UI upload
                // endpoint writes through the server's own artifact repository.
                let url = format!(
                    "/ajax-api/2.0/mlflow/upload-artifact?run_uuid={}&path={}",
                    percent_encode(run_id, false),
                    percent_encode(path, false)
                );
                self.send(
                    Method::POST,
                    &url,
                    Some(("application/octet-stream", bytes)),
                )
                .map(drop)
            }
        }
    }
}

/// `/api/2.0/mlflow-artifacts/artifacts/<exp>/<run>/artifacts/<path>` for a proxied run.
fn artifact_url(artifact_uri: &str, path: &str) -> Option<String> {
    let rest = artifact_uri.strip_prefix("mlflow-artifacts:")?;
    // `mlflow-artifacts://host:port/x` names another host; the path part is what matters here.
    let rest = match rest.strip_prefix("//") {
        Some(hosted) => hosted.find('/').map_or("", |i| &hosted[i..]),
        None => rest,
    };
    let mut url = String::from("/api/2.0/mlflow-artifacts/artifacts/");
    url.push_str(&percent_encode(rest.trim_start_matches('/'), true));
    if !path.is_empty() {
        url.push('/');
        url.push_str(&percent_encode(path, true));
    }
    Some(url)
}

fn mime_for(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "json" => "application/json",
        "txt" | "log" | "md" | "py" | "yaml" | "yml" | "csv" => "text/plain",
        "html" => "text/html",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_encoding() {
        assert_eq!(
            artifact_url("mlflow-artifacts:/2/abc/artifacts", "reports/a b.json").unwrap(),
            "/api/2.0/mlflow-artifacts/artifacts/2/abc/artifacts/reports/a%20b.json"
        );
        assert!(artifact_url("/srv/mlruns/1/abc/artifacts", "x").is_none());
    }
}
