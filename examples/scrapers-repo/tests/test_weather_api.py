from scrapers.weather_api import parse


def test_weather_reads_every_station(fixture_text):
    observations = parse(fixture_text("weather_api.json"))
    assert [o["station"] for o in observations] == ["EGLL", "EGKK", "EGSS"]
    assert observations[0]["temperature"] == 7.4
