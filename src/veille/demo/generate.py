"""Write the bundled demo stream: synthetic posts about a police force, in FR, NL, DE and EN.

Everything here is invented by this project (no real post, person or account): everyday chatter,
praise and complaints, traffic, a football match, and a few incidents told as threads that the
starter rules catch — a demonstration turning tense, a phishing wave using the police's name, a
missing person, a threat against a police station, a leaked address of an officer. Seeded, so
the shipped file is reproducible::

    python -m veille.demo.generate src/veille/data/demo/stream.jsonl.gz
"""

from __future__ import annotations

import gzip
import random
import sys
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

BASE = datetime(2026, 3, 14, 8, 0, tzinfo=UTC)
"""The stream's own clock; ``veille demo`` shifts every time so the stream ends now."""
SEED = 20260314
POSTS = 3000

PLACES = {
    "fr": ["Bruxelles", "Liège", "Namur", "Charleroi", "Mons", "Louvain-la-Neuve", "Arlon"],
    "nl": ["Brussel", "Antwerpen", "Gent", "Leuven", "Brugge", "Hasselt", "Mechelen"],
    "de": ["Eupen", "Sankt Vith", "Kelmis", "Bütgenbach", "Raeren"],
    "en": ["Brussels", "Antwerp", "Ghent", "Liège", "Leuven", "Bruges"],
}
FIRST = [
    "Anne",
    "Luc",
    "Sofie",
    "Pieter",
    "Amina",
    "Jonas",
    "Marie",
    "Yusuf",
    "Lena",
    "Tom",
    "Chloé",
    "Bram",
    "Inès",
    "Lukas",
    "Fatima",
    "Wout",
    "Julie",
    "Karim",
    "Eva",
    "Noah",
]
LAST = [
    "Dubois",
    "Peeters",
    "Janssens",
    "Lambert",
    "Maes",
    "Schmitz",
    "Martin",
    "Claes",
    "Renard",
    "Wouters",
    "Hoffmann",
    "Mertens",
    "Leroy",
    "Jacobs",
    "Kessler",
    "Willems",
]

CHATTER = {
    "fr": [
        "Embouteillage monstre sur le ring de {place} ce matin, courage à tous",
        "Quelqu'un sait si le marché de {place} a lieu malgré la pluie ?",
        "Belle balade ce week-end autour de {place} #belgique",
        "Merci à la police de {place} pour leur aide après mon accident de vélo #merci",
        "Contrôle radar rue de la Station à {place}, levez le pied",
        "Les frites de la place communale de {place} restent les meilleures",
        "Trois quarts d'heure pour un ticket au guichet de la gare de {place}, sérieusement ?",
        "Portes ouvertes au commissariat de {place} samedi, super pour les enfants",
        "Mon vélo a été volé devant la bibliothèque de {place}, plainte déposée",
        "Météo : éclaircies l'après-midi sur {place}, enfin",
    ],
    "nl": [
        "File op de ring rond {place}, neem de trein vandaag",
        "Iemand een tip voor een goede bakker in {place}? #vraag",
        "Dank aan de politie van {place} voor de snelle hulp gisteren #bedankt",
        "Flitscontrole op de Stationsstraat in {place}, voet van het gas",
        "Mooi weer in {place}, terrasjesweer eindelijk",
        "Mijn fiets is gestolen aan het station van {place}, aangifte gedaan",
        "Opendeurdag bij de politiezone {place} zaterdag, echt een aanrader",
        "Waarom duurt een afspraak bij het stadhuis van {place} drie weken?",
        "Lekker gegeten in {place} vanavond, aanrader",
        "Wegenwerken in het centrum van {place} tot eind april",
    ],
    "de": [
        "Stau auf der Umgehung von {place}, besser später losfahren",
        "Danke an die Polizei in {place} für die schnelle Hilfe #danke",
        "Weiß jemand, ob der Markt in {place} heute stattfindet?",
        "Blitzer in der Bahnhofstraße in {place}, langsam fahren",
        "Schönes Wetter in {place}, endlich Frühling",
        "Tag der offenen Tür bei der Polizei in {place} am Samstag",
        "Mein Fahrrad wurde in {place} gestohlen, Anzeige ist erstattet",
        "Baustelle im Zentrum von {place} bis Ende April",
    ],
    "en": [
        "Traffic jam on the ring around {place} again this morning",
        "Anyone know a good coffee place near the station in {place}?",
        "Thanks to the police in {place} for returning my lost wallet #thankyou",
        "Speed check on Station Street in {place}, slow down",
        "Lovely walk along the canal in {place} today",
        "Open day at the {place} police station on Saturday, great for kids",
        "Bike stolen outside the library in {place}, reported it online",
        "Roadworks in {place} city centre until the end of April",
    ],
}

REPLIES = {
    "fr": [
        "Bien vu, merci",
        "Pareil chez moi",
        "C'est toujours la même chose",
        "Vrai ?",
        "Source ?",
        "Courage",
        "Ça devient n'importe quoi",
        "On en reparle ce soir",
    ],
    "nl": [
        "Goed gezien, bedankt",
        "Hier ook",
        "Altijd hetzelfde",
        "Echt?",
        "Bron?",
        "Sterkte",
        "Dit loopt uit de hand",
        "We zien wel",
    ],
    "de": [
        "Danke für den Hinweis",
        "Hier genauso",
        "Immer dasselbe",
        "Wirklich?",
        "Quelle?",
        "Viel Kraft",
        "Das geht zu weit",
        "Mal sehen",
    ],
    "en": [
        "Good to know, thanks",
        "Same here",
        "Always the same",
        "Really?",
        "Source?",
        "Stay safe",
        "This is getting out of hand",
        "We'll see",
    ],
}


@dataclass(frozen=True)
class Incident:
    """A scripted thread: the root post, then replies in order (text per language)."""

    lang: str
    at_minutes: int
    root: str
    replies: tuple[str, ...]
    hashtags_in_replies: bool = True


INCIDENTS = [
    Incident(
        "fr",
        2,
        "Grosse manifestation prévue à {place} samedi contre la réforme, rendez-vous gare "
        "centrale 14h #manif{tag}",
        (
            "On sera là, avec banderoles #manif{tag}",
            "Des casseurs annoncés sur les réseaux, la police devrait se préparer",
            "Appel à bloquer le boulevard après la manif, soyez nombreux",
            "La police a fermé la gare centrale, le cortège est bloqué",
            "Gaz lacrymogène au niveau de la Bourse, restez à l'écart #manif{tag}",
            "Un policier blessé selon la radio, ça dégénère",
            "La manifestation est terminée, retour au calme en soirée",
        ),
    ),
    Incident(
        "nl",
        4,
        "Opgelet: valse sms 'uw boete van de politie moet vandaag betaald worden' met link. "
        "Phishing! Klik niet #oplichting",
        (
            "Ik kreeg hem ook, met een link naar een nep-betaalpagina",
            "Mijn moeder heeft betaald... hoe krijg je dat geld terug?",
            "Meld het bij de bank en doe aangifte bij de politie",
            "De federale politie waarschuwt ook op haar site voor deze phishing",
            "Nu ook via WhatsApp, zelfde tekst #oplichting",
        ),
    ),
    Incident(
        "de",
        6,
        "Vermisst: 14-jähriges Mädchen seit gestern Abend in {place}, zuletzt am Bahnhof "
        "gesehen. Bitte teilen #vermisst",
        (
            "Geteilt. Hoffentlich wird sie schnell gefunden",
            "Die Polizei bittet um Hinweise unter 101",
            "Suchaktion im Wald bei {place} läuft, Freiwillige willkommen",
            "Sie wurde gefunden und ist wohlauf, danke an alle #vermisst",
        ),
    ),
    Incident(
        "en",
        8,
        "Massive queues and fights at the stadium gates in {place} before the derby, "
        "police horses deployed #derby",
        (
            "Fans throwing bottles at the police line near gate 4",
            "Stay away from the north stand, riot police moving in",
            "Match delayed 20 minutes, the stadium announcer asks for calm #derby",
            "Several arrests after the match according to the local paper",
        ),
    ),
    Incident(
        "fr",
        11,
        "Ce soir on va brûler le commissariat de {place}, ils l'ont bien cherché",
        (
            "Calme-toi, ce genre de message c'est grave",
            "Signalé. Menacer un commissariat n'est pas une blague",
            "La police de {place} a ouvert une enquête sur ces menaces",
        ),
    ),
    Incident(
        "nl",
        14,
        "Is dit het adres van die agent van de interventieploeg? Kerkstraat 12, {place}, "
        "iedereen kan eens langsgaan",
        (
            "Verwijder dit onmiddellijk, je zet iemand in gevaar",
            "Gemeld bij het platform. Persoonsgegevens van agenten delen is strafbaar",
            "Het bericht is ondertussen doorgestuurd naar de politie",
        ),
    ),
    Incident(
        "en",
        17,
        "Leaked: photo of a document marked CONFIDENTIAL from the police zone in {place}, "
        "showing patrol schedules",
        (
            "If that's real it's a serious security breach",
            "Please don't share it further, it puts officers at risk",
            "The police zone says an internal investigation is under way",
        ),
    ),
    Incident(
        "de",
        20,
        "Drohung gegen Polizisten in {place}: 'wir warten auf euch nach der Schicht' "
        "an einer Wand gesprüht",
        (
            "Widerlich, das muss sofort angezeigt werden",
            "Die Polizei hat Anzeige erstattet und die Wand fotografiert",
        ),
    ),
]


class _Writer:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.count = 0
        self.authors: dict[str, list[dict[str, Any]]] = {lang: [] for lang in PLACES}
        for lang in PLACES:
            for _ in range(40):
                first, last = rng.choice(FIRST), rng.choice(LAST)
                ascii_name = unicodedata.normalize("NFKD", first + last).encode("ascii", "ignore")
                handle = f"{ascii_name.decode().lower()}{rng.randint(1, 99)}"
                self.authors[lang].append(
                    {
                        "id": f"demo-user-{handle}",
                        "handle": handle,
                        "display_name": f"{first} {last[0]}.",
                        "followers": int(rng.lognormvariate(5, 1.6)),
                    }
                )

    def post(
        self, lang: str, text: str, at: datetime, reply_to: str | None, root: str | None
    ) -> dict[str, Any]:
        self.count += 1
        native_id = f"demo-{self.count:05d}"
        post: dict[str, Any] = {
            "id": native_id,
            "platform": "demo",
            "text": text,
            "lang": lang,
            "author": self.rng.choice(self.authors[lang]),
            "created_at": at.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "url": f"https://demo.invalid/{native_id}",
        }
        if reply_to:
            post["reply_to"] = reply_to
            post["root_id"] = root
        return post


def generate(seed: int = SEED, posts: int = POSTS) -> Iterator[dict[str, Any]]:
    """The demo stream in time order: chatter with threads, the incidents woven in."""
    rng = random.Random(seed)
    writer = _Writer(rng)
    langs = list(PLACES)
    weights = [0.35, 0.35, 0.1, 0.2]
    events: list[tuple[datetime, int, dict[str, Any]]] = []
    order = 0

    def add(post: dict[str, Any], at: datetime) -> None:
        nonlocal order
        order += 1
        events.append((at, order, post))

    incident_posts = 0
    for incident in INCIDENTS:
        place = rng.choice(PLACES[incident.lang])
        tag = place.split("-")[0].split(" ")[0]
        at = BASE + timedelta(minutes=incident.at_minutes)
        root = writer.post(
            incident.lang, incident.root.format(place=place, tag=tag), at, None, None
        )
        add(root, at)
        for reply in incident.replies:
            at += timedelta(seconds=rng.randint(20, 240))
            add(
                writer.post(
                    incident.lang, reply.format(place=place, tag=tag), at, root["id"], root["id"]
                ),
                at,
            )
        incident_posts += 1 + len(incident.replies)

    at = BASE
    open_threads: list[tuple[str, str, str]] = []  # (lang, root id, last id)
    while writer.count < posts:
        at += timedelta(seconds=rng.expovariate(1 / 9))
        if open_threads and rng.random() < 0.3:
            index = rng.randrange(len(open_threads))
            lang, root_id, last_id = open_threads[index]
            answer = writer.post(lang, rng.choice(REPLIES[lang]), at, last_id, root_id)
            add(answer, at)
            if rng.random() < 0.5:  # the next reply answers this one: threads grow deep too
                open_threads[index] = (lang, root_id, answer["id"])
            continue
        lang = rng.choices(langs, weights)[0]
        text = rng.choice(CHATTER[lang]).format(place=rng.choice(PLACES[lang]))
        post = writer.post(lang, text, at, None, None)
        add(post, at)
        if rng.random() < 0.15:
            open_threads.append((lang, post["id"], post["id"]))
            del open_threads[:-12]
    events.sort(key=lambda e: (e[0], e[1]))
    for _, _, post in events:
        yield post


def write(path: Path, seed: int = SEED, posts: int = POSTS) -> int:
    """Write the stream as gzipped JSON Lines; returns the number of posts."""
    encoder = msgspec.json.Encoder()
    lines = [encoder.encode(post) for post in generate(seed, posts)]
    path.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0 keeps the gzip bytes identical from one run to the next.
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
        out.write(b"\n".join(lines) + b"\n")
    return len(lines)


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "src/veille/data/demo/stream.jsonl.gz")
    print(f"{write(target)} posts written to {target}")
