from scrapers.events import parse


def test_events_lists_every_event(fixture_text):
    events = parse(fixture_text("events.html"))
    assert len(events) == 3
    assert events[0] == {
        "name": "Spring Jazz Night",
        "date": "2026-03-14T19:30",
        "venue": "Main Hall",
    }
