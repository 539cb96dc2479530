"""Home Assistant MQTT discovery: what each binding becomes, and keeping it announced."""
