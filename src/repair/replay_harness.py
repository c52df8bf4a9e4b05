"""Runs one scraper's own extraction on one saved response, for Fixwright.

Reads a JSON request on stdin and writes a JSON result to the request's
"out" path:
  {"records": [...], "requests": N, "error": null | {"type", "message", "traceback"}}

A Scrapy spider gets an HtmlResponse/TextResponse built from the URL and the
body and its callback is called; a plain module's entry function is called
with the response text. Anything the scraper prints goes to stderr.
"""

import asyncio
import contextlib
import importlib
import inspect
import json
import sys
import traceback


def jsonable(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def collect(result):
    if result is None:
        return []
    if inspect.isasyncgen(result):
        async def drain():
            return [item async for item in result]

        return asyncio.run(drain())
    if inspect.iscoroutine(result):
        return collect(asyncio.run(result))
    if isinstance(result, dict):
        return [result]
    try:
        return list(result)
    except TypeError:
        return [result]


def run_spider(module, request, body):
    from scrapy.http import HtmlResponse, Request, TextResponse

    try:
        from itemadapter import ItemAdapter, is_item
    except ImportError:  # very old Scrapy
        ItemAdapter, is_item = None, lambda obj: isinstance(obj, dict)

    spider_class = getattr(module, request["class_name"])
    spider = spider_class()
    url = request.get("url")
    if not url:
        start_urls = list(getattr(spider, "start_urls", None) or [])
        url = start_urls[0] if start_urls else "http://localhost/"
    response_class = HtmlResponse if request["content_kind"] == "html" else TextResponse
    response = response_class(
        url=url,
        body=body,
        encoding="utf-8",
        request=Request(url),
        headers={"Content-Type": request["content_type"]},
    )
    callback = getattr(spider, request.get("callback") or "parse")
    records, requests = [], 0
    for obj in collect(callback(response)):
        if isinstance(obj, Request):
            requests += 1
        elif is_item(obj):
            records.append(dict(ItemAdapter(obj).asdict()) if ItemAdapter else dict(obj))
    return records, requests


def run_module(module, request, body):
    entry = getattr(module, request["entry"])
    text = body.decode("utf-8", "replace")
    records = []
    for obj in collect(entry(text)):
        records.append(obj if isinstance(obj, dict) else {"value": obj})
    return records, 0


def main():
    request = json.load(sys.stdin)
    result = {"records": [], "requests": 0, "error": None}
    sys.path.insert(0, request["repo"])
    try:
        with open(request["body_path"], "rb") as handle:
            body = handle.read()
        with contextlib.redirect_stdout(sys.stderr):
            module = importlib.import_module(request["module"])
            if request["kind"] == "scrapy_spider":
                records, requests = run_spider(module, request, body)
            else:
                records, requests = run_module(module, request, body)
        result["records"] = jsonable(records)
        result["requests"] = requests
    except BaseException as exc:  # the scraper's failure is the result
        result["error"] = {
            "type": type(exc).__name__,
            "message": str(exc),
            "traceback": traceback.format_exc(),
        }
    with open(request["out"], "w", encoding="utf-8") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main()
