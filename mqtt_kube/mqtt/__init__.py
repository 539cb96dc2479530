"""The one MQTT connection: reconnects, availability, subscriptions, delivery."""
