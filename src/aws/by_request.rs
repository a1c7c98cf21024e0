//! (v4) [`ByRequest`]: credentials chosen per request, for the SDK a region's
//! discovered accounts share.

use aws_credential_types::provider::SharedCredentialsProvider;

tokio::task_local! {
    /// The credentials of the request being sent, read by [`ByRequest`].
    pub(super) static REQUEST_CREDENTIALS: SharedCredentialsProvider;
}

/// (v4) Credentials chosen per request: those the [`super::Caller`] sending it was
/// given ([`super::Caller::with_credentials`]). One SDK (and its clients, some 80 KiB
/// for four services) then serves every account of a region, where one per
/// (account, region) would take hundreds of megabytes at 4,000 targets. The
/// SDK using it must cache no identity (`IdentityCache::no_cache`): the
/// account's provider caches its own.
#[derive(Debug)]
pub struct ByRequest;

impl aws_credential_types::provider::ProvideCredentials for ByRequest {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let provider = REQUEST_CREDENTIALS.try_with(|p| p.clone()).ok();
        aws_credential_types::provider::future::ProvideCredentials::new(async move {
            match provider {
                Some(provider) => provider.provide_credentials().await,
                None => Err(
                    aws_credential_types::provider::error::CredentialsError::not_loaded(
                        "no credentials were given for this request",
                    ),
                ),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::provider::ProvideCredentials;
    use aws_credential_types::Credentials;

    #[tokio::test]
    async fn each_request_gets_the_credentials_its_caller_carries() {
        assert!(ByRequest.provide_credentials().await.is_err());
        for key in ["AKIDA", "AKIDB"] {
            let given = SharedCredentialsProvider::new(Credentials::new(key, "s", None, None, "t"));
            let got = REQUEST_CREDENTIALS
                .scope(given, async { ByRequest.provide_credentials().await })
                .await
                .unwrap();
            assert_eq!(got.access_key_id(), key);
        }
    }
}
