from scrapy.http import HtmlResponse, Request

from bookshop.spiders.quotes import QuotesSpider

URL = "https://quotes.example.com/page/1/"


def test_quotes_extracts_text_and_author(fixture_text):
    body = fixture_text("quotes.html").encode("utf-8")
    response = HtmlResponse(url=URL, body=body, encoding="utf-8", request=Request(URL))
    items = list(QuotesSpider().parse(response))
    assert [item["author"] for item in items] == [
        "Albert Einstein",
        "J.K. Rowling",
        "Albert Einstein",
    ]
    assert all(item["text"].startswith("“") for item in items)
