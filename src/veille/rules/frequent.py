"""Very frequent words of French, Dutch, German and English (folded), written for veille.

The presearcher should index a rule under its *rarest* required term; without statistics the
best guess is length, but short rare words lose against long frequent ones ("morgen" beats
"gabor"). Knowing the few hundred words that appear in a large share of all posts fixes the
worst guesses, as stop-word lists do for search engines. The lists are function words and
the most common everyday words of social media, not topic words.
"""

from __future__ import annotations

from typing import Final

_FR = """
a ai aie aient ainsi alors apres as au aucun aussi autre aux avait avant avec avez avoir
avons bien bon bonjour c ca car ce cela celle celui ces cet cette chaque chez ci comme comment
d dans de des deja depuis deux dire dit divers donc dont du elle elles en encore entre es est
et etait ete etre eu fait faire faut fois font gens grand il ils j jamais je jour l la le les
leur leurs lui m ma mais me meme merci mes moi moins mon n ne ni non nos notre nous on ont ou
oui par parce pas peu peut plus pour pourquoi quand que quel quelle qui quoi rien s sa sans se
ses si sien soir son sont sous suis sur t ta te tes toi ton tous tout toute toutes tres trop tu
un une vais va vont vos votre vous vraiment y aujourd hui demain hier matin nuit temps ans
annee monde homme femme enfants fin heure heures semaine tout faire voir bien vie
"""
_NL = """
aan af al alle alles als altijd andere ben bij daar dan dat de der deze die dit doch doen door
dus een eens en er ge geen geweest haar had heb hebben heeft hem het hier hij hoe hun iemand iets
ik in is ja je jij jou jullie kan kon kunnen maar me meer men met mij mijn moet na naar niet
niets nog nu of om omdat onder ons ook op over reeds te tegen toch toen tot u uit uw van veel
voor want waren was wat we wel werd wezen wie wil worden wordt zal ze zelf zich zij zijn zo
zonder zou vandaag morgen gisteren avond ochtend nacht dag jaar week tijd mensen goed heel echt
even weer gaan gaat komt komen zien zeggen dank hallo
"""
_DE = """
aber alle allem allen aller alles als also am an ander andere anderen auch auf aus bei bin bis
bist da damit dann das dass dein deine dem den der des dich die dies diese dieser dir doch dort
du durch ein eine einem einen einer eines er es etwas euch euer für gegen gewesen hab habe haben
hat hatte hier hin hinter ich ihm ihn ihr ihre im in ist ja jede jedem jeden jeder jetzt kann
kein keine können machen man mein meine mich mir mit muss nach nicht nichts noch nun nur ob oder
ohne sehr sein seine sich sie sind so soll sondern über um und uns unser unter viel vom von vor
war waren was weg weil weiter welche wenn wer werde werden wie wieder will wir wird wo zu zum
zur heute morgen gestern abend nacht tag jahr woche zeit leute gut immer mal schon ganz danke
hallo gibt geht
"""
_EN = """
a about after all also am an and any are as at back be because been before being but by can
could day did do does don for from get go going good got had has have he her here him his how
i if in into is it its just know like make me more my new no not now of on one only or other
our out over people really said say see she so some still than that the their them then there
these they think this time to today tomorrow too two up us very want was way we well were what
when where which who why will with would year yesterday you your thanks hello night morning
evening week always never
"""

FREQUENT: Final[frozenset[str]] = frozenset(
    word.replace("ü", "u").replace("ö", "o").replace("ä", "a").replace("ß", "ss")
    for block in (_FR, _NL, _DE, _EN)
    for word in block.split()
)
"""Folded frequent words (accents stripped, lower case)."""
