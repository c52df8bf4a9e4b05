"""Upcoming events from the venue's listing page, with BeautifulSoup.

Entry point: ``parse(html) -> list[dict]``.
"""

from bs4 import BeautifulSoup


def parse(html: str) -> list[dict]:
    soup = BeautifulSoup(html, "html.parser")
    events = []
    for card in soup.select("li.event-card"):
        events.append(
            {
                "name": card.select_one("h3.event-name").get_text(strip=True),
                "date": card.find("time")["datetime"],
                "venue": card.select_one("span.venue").get_text(strip=True),
            }
        )
    return events
