//! The reference's Rust examples, verbatim apart from the token (the base
//! URL comes from NEUAIS_URL).

use neuais_sdk::Client;

fn token() -> Option<String> {
    std::env::var("NEUAIS_TOKEN").ok().filter(|t| !t.is_empty())
}

async fn quickstart(token: &str) -> Result<u64, neuais_sdk::Error> {
    let your_token = token;
    // The reference: Client::new("your-token")?; client.agents().list().await?
    let client = Client::new(your_token)?;
    let agents = client.agents().list().await?;
    Ok(agents.total)
}

async fn one_line(token: &str) -> Result<u64, neuais_sdk::Error> {
    let agents = Client::new(token)?.agents().list().await?;
    Ok(agents.total)
}

#[tokio::test]
async fn reference() {
    let Some(t) = token() else { return };
    quickstart(&t).await.unwrap();
    one_line(&t).await.unwrap();
}
