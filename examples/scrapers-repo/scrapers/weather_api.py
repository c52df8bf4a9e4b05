"""Station observations from the weather service's JSON API.

Entry point: ``parse(text) -> list[dict]``.
"""

import json


def parse(text: str) -> list[dict]:
    data = json.loads(text)
    return [
        {
            "station": obs["station_id"],
            "temperature": obs["temp_c"],
            "observed_at": obs["observed_at"],
        }
        for obs in data["observations"]
    ]
