//! Config documents (`shared/spec/wire-protocol.md` §5.7): named JSON
//! objects, replaced with [`Configs::set`] or shallow-merged with
//! [`Configs::patch`], each with a revision that grows by one per change.
//!
//! ```no_run
//! # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
//! use serde_json::{Value, json};
//!
//! let configs = client.config();
//! configs.set("app-settings", &json!({ "theme": "dark", "locale": "en" })).await?;
//! configs.patch("app-settings", &json!({ "locale": "fr" })).await?;
//! let settings = configs.get::<Value>("app-settings").await?.expect("just set");
//! assert_eq!(settings.data["locale"], "fr");
//! # Ok(()) }
//! ```

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::kv::lenient_u64;
use super::{Call, Client, segment};
use crate::error::{Error, ErrorKind, Result};

/// A config document with its revision; from [`Configs::get`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigEntry<T> {
    /// Its name.
    pub name: String,
    /// The document.
    pub data: T,
    /// Changes so far, from 1.
    #[serde(deserialize_with = "lenient_u64")]
    pub revision: u64,
    /// Last change (RFC 3339).
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// A config without its document; from [`Configs::list`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigSummary {
    /// Its name.
    pub name: String,
    /// Changes so far, from 1.
    #[serde(deserialize_with = "lenient_u64")]
    pub revision: u64,
    /// Last change (RFC 3339).
    #[serde(default)]
    pub updated_at: Option<String>,
}

#[derive(Deserialize)]
struct Written {
    #[serde(deserialize_with = "lenient_u64")]
    revision: u64,
}

#[derive(Deserialize)]
struct Listed {
    #[serde(default)]
    configs: Vec<ConfigSummary>,
}

/// The config documents of this client's environment; from [`Client::config`].
#[derive(Debug, Clone)]
pub struct Configs {
    client: Client,
}

impl Client {
    /// The config documents of this client's environment.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// for config in client.config().list().await? {
    ///     println!("{} at revision {}", config.name, config.revision);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn config(&self) -> Configs {
        Configs {
            client: self.clone(),
        }
    }
}

fn path(name: &str) -> String {
    format!("/api/v1/config/{}", segment(name))
}

/// `value` as a JSON object, or a validation error naming what it is.
fn object(name: &str, value: &(impl Serialize + ?Sized)) -> Result<Value> {
    let value = serde_json::to_value(value).map_err(|e| {
        Error::new(
            ErrorKind::Validation,
            format!("config {name:?} does not serialize to JSON: {e}"),
        )
    })?;
    if !value.is_object() {
        return Err(Error::new(
            ErrorKind::Validation,
            format!("config {name:?} must serialize to a JSON object, not {value}"),
        ));
    }
    Ok(value)
}

impl Configs {
    /// Replaces (or creates) a config; `data` must serialize to a JSON
    /// object. Returns the new revision.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// #[derive(serde::Serialize)]
    /// struct Limits { max_retries: u32 }
    /// let revision = client.config().set("limits", &Limits { max_retries: 3 }).await?;
    /// # let _ = revision; Ok(()) }
    /// ```
    pub async fn set<T: Serialize + ?Sized>(&self, name: &str, data: &T) -> Result<u64> {
        let body = object(name, data)?;
        let written: Written = self
            .client
            .rest(Method::POST, &path(name), Some(&body))
            .await?;
        Ok(written.revision)
    }

    /// A config parsed into `T`, with its revision; `None` if there is none.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// if let Some(c) = client.config().get::<serde_json::Value>("app-settings").await? {
    ///     println!("theme {} (revision {})", c.data["theme"], c.revision);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get<T: DeserializeOwned>(&self, name: &str) -> Result<Option<ConfigEntry<T>>> {
        match self.client.call(Call::new(Method::GET, &path(name))).await {
            Ok(reply) => Ok(Some(reply.json()?)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Shallow-merges `patch` (a JSON object) into a config: each top-level
    /// key replaces the stored one and a `null` removes it. A missing config
    /// is created. Returns the new revision.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// use serde_json::json;
    /// // Sets `locale`, removes `beta`, keeps everything else.
    /// client.config().patch("app-settings", &json!({ "locale": "fr", "beta": null })).await?;
    /// # Ok(()) }
    /// ```
    pub async fn patch<T: Serialize + ?Sized>(&self, name: &str, patch: &T) -> Result<u64> {
        let body = object(name, patch)?;
        let written: Written = self
            .client
            .rest(Method::PATCH, &path(name), Some(&body))
            .await?;
        Ok(written.revision)
    }

    /// Every config of the environment, by name.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// let names: Vec<String> = client.config().list().await?.into_iter().map(|c| c.name).collect();
    /// # let _ = names; Ok(()) }
    /// ```
    pub async fn list(&self) -> Result<Vec<ConfigSummary>> {
        let listed: Listed = self
            .client
            .rest(Method::GET, "/api/v1/config", None::<&()>)
            .await?;
        Ok(listed.configs)
    }

    /// Deletes a config; succeeds whether or not it exists. Setting it
    /// again starts over at revision 1.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// client.config().delete("app-settings").await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete(&self, name: &str) -> Result<()> {
        self.client
            .call(Call::new(Method::DELETE, &path(name)))
            .await?;
        Ok(())
    }
}
