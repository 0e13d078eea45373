//! The engine's HTTP client of the commands that call its Connect and REST
//! routes directly (`emit`, `runs`, `inspect`, `functions`, `workers`): the
//! API key and environment headers, and the engine's errors as messages.

use std::time::Duration;

use serde_json::Value;

pub(crate) struct Client {
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    pub(crate) api_key: Option<String>,
    pub(crate) environment: Option<String>,
}

impl Client {
    fn headers(&self, mut request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        if let Some(env) = &self.environment {
            request = request.header("x-ironflow-environment", env);
        }
        request
    }

    pub(crate) async fn connect(&self, method: &str, body: Value) -> Result<Value, String> {
        let url = format!("{}/ironflow.v1.IronflowService/{method}", self.base);
        let response = self
            .headers(self.http.post(&url))
            .timeout(Duration::from_secs(330))
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("cannot reach the engine at {}: {e}", self.base))?;
        Self::decode(response).await
    }

    pub(crate) async fn get(&self, path: &str) -> Result<Value, String> {
        let response = self
            .headers(self.http.get(format!("{}{path}", self.base)))
            .send()
            .await
            .map_err(|e| format!("cannot reach the engine at {}: {e}", self.base))?;
        Self::decode(response).await
    }

    async fn decode(response: reqwest::Response) -> Result<Value, String> {
        let status = response.status();
        let body: Value = response.json().await.map_err(|e| {
            format!("the engine answered {status} with a body that is not JSON: {e}")
        })?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(format!(
                "{} ({status}): {}",
                body["code"].as_str().unwrap_or("error"),
                body["message"]
                    .as_str()
                    .or(body["error"].as_str())
                    .unwrap_or("")
            ))
        }
    }
}
