//! Functions, workers and health (§5.3, §5.4).

use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use super::Client;
use crate::error::{Error, ErrorKind, Result};

impl Client {
    /// Registers `functions` with the engine for push mode: it will POST
    /// their invocations to `endpoint_url`, where a
    /// [`Serve`](crate::serve::Serve) handler answers them. Call it when the
    /// app starts (registration replaces an earlier one of the same id).
    ///
    /// ```no_run
    /// # async fn demo(registry: ironflow::Registry) -> ironflow::Result<()> {
    /// let client = ironflow::Client::from_env()?;
    /// client
    ///     .register_push(&registry, "https://app.example.com/api/ironflow")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn register_push(
        &self,
        functions: &crate::Registry,
        endpoint_url: &str,
    ) -> Result<()> {
        if !(endpoint_url.starts_with("http://") || endpoint_url.starts_with("https://")) {
            return Err(Error::new(
                ErrorKind::Config,
                format!("endpoint URL {endpoint_url:?} must start with http:// or https://"),
            ));
        }
        for function in functions.iter() {
            let body = crate::worker::wire::RegisterFunction::push(&function, endpoint_url);
            let _: Value = self
                .connect("IronflowService", "RegisterFunction", &body)
                .await?;
        }
        Ok(())
    }

    /// The registered functions, as the engine describes them.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// for f in client.list_functions().await? {
    ///     println!("{}", f["id"]);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list_functions(&self) -> Result<Vec<Value>> {
        #[derive(Deserialize)]
        struct Functions {
            #[serde(default)]
            functions: Vec<Value>,
        }
        let reply: Functions = self
            .rest(Method::GET, "/api/v1/functions", None::<&()>)
            .await?;
        Ok(reply.functions)
    }

    /// The connected pull workers, as the engine describes them.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// println!("{} worker(s)", client.list_workers().await?.len());
    /// # Ok(()) }
    /// ```
    pub async fn list_workers(&self) -> Result<Vec<Value>> {
        #[derive(Deserialize)]
        struct Workers {
            #[serde(default)]
            workers: Vec<Value>,
        }
        let reply: Workers = self
            .rest(Method::GET, "/api/v1/workers", None::<&()>)
            .await?;
        Ok(reply.workers)
    }

    /// The engine's health status (`"ok"` when healthy).
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// assert_eq!(client.health().await?, "ok");
    /// # Ok(()) }
    /// ```
    pub async fn health(&self) -> Result<String> {
        #[derive(Deserialize)]
        struct Health {
            status: String,
        }
        let reply: Health = self
            .connect("IronflowService", "Health", &serde_json::json!({}))
            .await?;
        Ok(reply.status)
    }
}
