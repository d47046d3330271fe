"""Posts and conversations: read one post, list flagged conversations, read a thread.

Every read of a post or a conversation is written to the audit log (personal data was seen);
when the read shows personal data the detectors found in clear (callers with the
``personal_data`` permission), a ``personal_data.view`` entry names the posts and kinds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from veille.store.reads import MAX_THREAD
from veille.web.api.common import Cursor, Limit, RowRef, WebDep, decode_cursor, filtered_page
from veille.web.auth import Principal, Require
from veille.web.authz import Permission
from veille.web.context import Web
from veille.web.errors import ApiError
from veille.web.schemas import (
    ConversationDetail,
    ConversationOut,
    Page,
    PostOut,
    ThreadNodeOut,
    conversation_view,
    post_view,
    thread_view,
)

router = APIRouter(tags=["posts and conversations"])
Viewer = Annotated[Principal, Depends(Require(Permission.VIEW))]


MAX_AUDITED_POSTS = 200
"""Post ids listed in one ``personal_data.view`` entry (the count is always complete)."""


def reveals(who: Principal) -> bool:
    """Whether ``who`` sees the personal data found in posts in clear (else ``⟨kind⟩``)."""
    return who.can(Permission.PERSONAL_DATA) and not who.scope.pseudonymous


def record_view(
    web: Web, who: Principal, action: str, target: str, shown: Iterable[PostOut]
) -> None:
    """Audit a read of posts, and the personal data it showed in clear, if any."""
    web.record(who, action, target)
    personal = [(p.id, p.personal_data()) for p in shown]
    personal = [(post_id, kinds) for post_id, kinds in personal if kinds]
    if personal:
        web.record(
            who,
            "personal_data.view",
            target,
            posts=[post_id for post_id, _ in personal[:MAX_AUDITED_POSTS]],
            count=len(personal),
            kinds=sorted({k for _, kinds in personal for k in kinds}),
        )


def thread_posts(nodes: Iterable[ThreadNodeOut]) -> Iterator[PostOut]:
    """Every post of a thread view."""
    stack = list(nodes)
    while stack:
        node = stack.pop()
        yield node.post
        stack.extend(node.replies)


def visible_post(web: Web, who: Principal, post_id: int) -> PostOut:
    """A post the caller may see (404 otherwise: we do not confirm what exists)."""
    stored = web.store.post_by_id(post_id)
    tags = web.rulebook.tags()
    if stored is None:
        raise ApiError(404, f"no post {post_id}")
    if not who.scope.everything:
        conv = web.store.conversation((stored.post.platform, stored.conversation_root))
        rules = {m.match.rule for m in stored.matches} | (set(conv.rules) if conv else set())
        if not who.scope.sees_any(rules, tags):
            raise ApiError(404, f"no post {post_id}")
    return post_view(stored, who.scope, tags, web.pseudonymise, reveal=reveals(who))


@router.get("/posts/{post_id}", response_model=PostOut)
def get_post(post_id: RowRef, web: WebDep, who: Viewer) -> PostOut:
    """One stored post with the matches of the rules you may see."""
    post = visible_post(web, who, post_id)
    record_view(web, who, "post.view", f"post {post_id}", [post])
    return post


def conversation_detail(web: Web, who: Principal, ref: str) -> ConversationDetail:
    try:
        conv = web.store.conversation(ref)
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    tags = web.rulebook.tags()
    if conv is None or not who.scope.sees_any(conv.rules, tags):
        raise ApiError(404, f"no conversation {ref}")
    nodes = web.store.thread(conv.platform, conv.root)
    count = _count(nodes)
    return ConversationDetail(
        conversation=conversation_view(conv, who.scope, tags),
        thread=thread_view(nodes, who.scope, tags, web.pseudonymise, reveal=reveals(who)),
        truncated=count >= MAX_THREAD,
    )


def _count(nodes: list) -> int:  # type: ignore[type-arg]
    total, stack = 0, list(nodes)
    while stack:
        node = stack.pop()
        total += 1
        stack.extend(node.replies)
    return total


@router.get("/conversations", response_model=Page[ConversationOut])
def list_conversations(
    web: WebDep,
    who: Viewer,
    limit: Limit = 50,
    cursor: Cursor = None,
    following: Annotated[bool, Query(description="Only conversations still followed")] = False,
) -> Page[ConversationOut]:
    """Flagged conversations you may see, most recently active first."""
    tags = web.rulebook.tags()
    items, nxt = filtered_page(
        lambda n: web.store.conversations(limit=n, following=following),
        lambda c: who.scope.sees_any(c.rules, tags),
        decode_cursor(cursor),
        limit,
    )
    return Page(items=[conversation_view(c, who.scope, tags) for c in items], next=nxt)


@router.get("/conversations/{ref}", response_model=ConversationDetail)
def get_conversation(
    ref: Annotated[str, "conversation id or platform:root"], web: WebDep, who: Viewer
) -> ConversationDetail:
    """A flagged conversation and its thread as a tree (matched words as spans)."""
    if len(ref) > 1100:
        raise ApiError(400, "conversation reference is too long")
    detail = conversation_detail(web, who, ref)
    key = detail.conversation.key
    record_view(web, who, "conversation.view", key, thread_posts(detail.thread))
    return detail
