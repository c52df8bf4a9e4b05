"""Book listings from the shop's catalogue pages, by CSS selectors."""

import scrapy


class BooksSpider(scrapy.Spider):
    name = "books"
    allowed_domains = ["books.example.com"]
    start_urls = ["https://books.example.com/catalogue/page-1.html"]

    def parse(self, response):
        for book in response.css("article.product_pod"):
            yield {
                "title": book.css("h3 a::attr(title)").get(),
                "price": book.css("p.price_color::text").get(),
                "url": response.urljoin(book.css("h3 a::attr(href)").get()),
            }
