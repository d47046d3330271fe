"""The temperature page: volume and net sentiment per rule and tag, spikes marked."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from veille.web.api.trends import Dimension, active, trend
from veille.web.auth import Principal, Require
from veille.web.authz import Permission
from veille.web.context import Web
from veille.web.pages.render import render

router = APIRouter(include_in_schema=False)
Viewer = Annotated[Principal, Depends(Require(Permission.VIEW, page=True))]
Hours = Annotated[int, Query(ge=1, le=24 * 31)]


@router.get("/temperature")
def temperature(request: Request, who: Viewer, hours: Hours = 48) -> Response:
    web: Web = request.app.state.web
    return render(
        request,
        "temperature.html",
        title="Temperature",
        hours=hours,
        rules=active(web, who, "rule", hours, 8),
        tags=active(web, who, "tag", hours, 8),
        names={r.id: r.name for r in web.rulebook.rules()},
    )


@router.get("/temperature/chart")
def chart(
    request: Request,
    who: Viewer,
    dimension: Dimension = "all",
    value: Annotated[str, Query(max_length=1100)] = "",
    hours: Hours = 48,
    show: Literal["both", "volume", "sentiment"] = "both",
) -> Response:
    """One chart's data in the shape static/app.js draws (uPlot columns + spike times)."""
    web: Web = request.app.state.web
    data = trend(web, who, dimension, value, hours)
    series = []
    if show in ("both", "volume"):
        series.append({"label": "posts", "values": data.volume, "color": "#1f5fa8"})
        series.append({"label": "negative", "values": data.negative, "color": "#c2410c"})
    if show in ("both", "sentiment"):
        series.append(
            {
                "label": "net sentiment",
                "values": data.net_sentiment,
                "color": "#2f7d4f",
                "scale": "s",
            }
        )
    return JSONResponse(
        {
            "times": [int(t.timestamp()) for t in data.times],
            "series": series,
            "spikes": sorted({int(s.at.timestamp()) for s in data.spikes}),
            "words": data.top_words,
            "hashtags": data.top_hashtags,
        }
    )
