//! The rig tool the fake model's tool calls ask for: `get_weather` with `{"city": "Paris"}`.

use rig_core::tool::PortableTool;
use serde_json::json;

#[derive(serde::Deserialize)]
pub struct WeatherArgs {
    city: String,
}

#[derive(Debug, thiserror::Error)]
#[error("no weather for {0}")]
pub struct NoWeather(String);

/// Knows every city's weather (`Weather(true)`: "18C and sunny in Paris"), or none
/// (`Weather(false)`: it fails).
pub struct Weather(pub bool);

impl PortableTool for Weather {
    const NAME: &'static str = "get_weather";
    type Error = NoWeather;
    type Args = WeatherArgs;
    type Output = String;

    fn description(&self) -> String {
        "The weather in a city".to_owned()
    }

    fn parameters(&self) -> serde_json::Value {
        json!({ "type": "object", "properties": { "city": { "type": "string" } } })
    }

    async fn call(&self, args: WeatherArgs) -> Result<String, NoWeather> {
        match self.0 {
            true => Ok(format!("18C and sunny in {}", args.city)),
            false => Err(NoWeather(args.city)),
        }
    }
}
