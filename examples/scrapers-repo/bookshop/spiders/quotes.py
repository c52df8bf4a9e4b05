"""Quotes and their authors, by XPath."""

import scrapy


class QuotesSpider(scrapy.Spider):
    name = "quotes"
    allowed_domains = ["quotes.example.com"]
    start_urls = ["https://quotes.example.com/page/1/"]

    def parse(self, response):
        for quote in response.xpath('//div[@class="quotes"]/div[@class="quote"]'):
            yield {
                "text": quote.xpath('./span[@class="text"]/text()').get(),
                "author": quote.xpath('.//small[@class="author"]/text()').get(),
            }
