from scrapy.http import HtmlResponse, Request

from bookshop.spiders.books import BooksSpider

URL = "https://books.example.com/catalogue/page-1.html"


def test_books_extracts_every_book(fixture_text):
    body = fixture_text("books.html").encode("utf-8")
    response = HtmlResponse(url=URL, body=body, encoding="utf-8", request=Request(URL))
    items = list(BooksSpider().parse(response))
    assert len(items) == 4
    assert items[0] == {
        "title": "A Light in the Attic",
        "price": "£51.77",
        "url": "https://books.example.com/catalogue/a-light-in-the-attic_1000/index.html",
    }
    assert all(item["title"] and item["price"] for item in items)
