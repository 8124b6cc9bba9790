"""Story plots set at home and among friends: a lost toy, sharing, helping, mending, a lesson, a surprise,
baking, a new friend."""
from __future__ import annotations

from babyllama.data.stories.grammar import ing_form, past_tense, words
from babyllama.data.stories.lexicon import (
    BAKE_THINGS, BREAKABLES, COLORS, HIDING_SPOTS, LESSONS, NEW_FRIEND_GIFTS, NEW_FRIEND_WAYS,
    SHARE_THINGS, TOYS, TOY_ADJS, TROUBLES,
)
from babyllama.data.stories.teller import Teller, closing, intro

# Each plot writes a whole story into a Teller. Sentences that start with "{he}" always
# follow a sentence about the hero, so pronouns point at the right character.


def _toy(t: Teller, toys: tuple[str, ...] = TOYS) -> None:
    toy = t.pick(toys)
    adj = t.pick(TOY_ADJS + COLORS + COLORS)
    t.s["obj"] = toy
    t.s["objd"] = f"{adj} {toy}"


def plot_lost(t: Teller) -> None:
    """A favourite thing goes missing; someone helps look; it turns up."""
    t.hero()
    t.grownup()
    _toy(t)
    intro(t, t.pick((1, 2)))
    t.say("{he} had {a_objd} that {he} loved very much.", "{his} favorite toy was {a_objd}.",
          "{H} had {a_objd}. It was {his} favorite thing in the whole world.",
          "{G} had given {H} {a_objd} for {his} birthday.", "{H} took {his} {objd} everywhere {he} went.")
    t.maybe(0.7, "{he} played with it every day.", "{he} took it to bed every night.",
            "{he} even gave it a name. {he} called it {toyname}.",
            "It went with {him} to the park, to the store, and even to the bath.")
    t.para()
    t.say("{onday} {H} could not find {his} {obj} anywhere.",
          "{onday} {H} went to get {his} {obj}, but it was not there.",
          "{onday} {H} woke up and reached for {his} {obj}. It was gone!",
          "{onday} {H} wanted to play with {his} {obj}, but {he} could not find it.")
    t.say('"{oh}! Where is my {obj}?" {H} cried.', '{H} felt {sad}. "I lost my {obj}!" {he} said.',
          '"My {obj} is gone!" {H} said. Big tears filled {his} eyes.',
          '{H} was {very} worried. "Where did my {obj} go?" {he} asked.')
    s1, s2, s3, s4 = t.sample(HIDING_SPOTS, 4)
    t.s.update(s1=s1, s2=s2, s3=s3, s4=s4)
    t.say("{he} looked {s1}. {he} looked {s2}. But the {obj} was not there.",
          "First, {he} looked {s1}. Then {he} looked {s2}. {he} even looked {s3}, but {he} could not find it.",
          "{he} searched {s1} and {s2}, but there was no {obj}.",
          "{he} looked everywhere. {he} looked {s1} and {s2}. {he} looked {s3} too. No {obj}!")
    t.para()
    who = t.pick(("g", "g", "f", "p"))
    if who == "g":
        t.say('{G} saw that {H} was {sad}. "What is wrong, {H}?" {ghe} asked.',
              '{G} came in. "Why are you so {sad}, {H}?" {ghe} asked.',
              'Just then, {G} came by. "What happened, {H}?" {ghe} asked {gently}.')
        t.say('"I can\'t find my {obj}," {H} said.', '"My {obj} is lost," said {H} with a sniff.',
              '{H} told {G} about the lost {obj}.')
        t.say('"Don\'t worry. Let\'s look together," said {G}.',
              '"Let\'s think," said {G}. "Where did you have it last?"',
              '{G} gave {H} a hug. "We will find it," {ghe} said.')
        t.say("They looked {s4}, and there it was!",
              '{G} looked {s4}. "Look!" {ghe} said. "Here it is!"',
              "{H} thought and thought. Then {he} remembered! {he} had left it {s4}. {he} {move} to look, and there "
              "it was.")
        t.s["helper"] = t.s["gcall"]
    elif who == "f":
        t.friend()
        t.say("{H} went to see {Fi}.", "{suddenly}, {Fi} came by to play.")
        t.say('"Why do you look so {sad}?" asked {F}.', '"What is wrong?" asked {F}.')
        t.say('"I lost my {obj}," said {H}.', '"My {obj} is missing," {H} said.')
        t.say('"I will help you look!" said {F}.', '"Two friends can look better than one," said {F}.')
        t.say('They looked and looked. Then {F} shouted, "I see it! It is {s4}!"',
              "{H} and {F} looked together. {soon}, {F} found the {obj} {s4}.",
              "{F} had {a_idea}. {fhe} looked {s4}, and there it was!")
        t.s["helper"] = t.s["F"]
    else:
        t.pet(("dog", "puppy", "cat", "kitten"))
        t.say("{suddenly}, {H} heard a funny noise. It was {his} {pkind}, {P}.",
              "{suddenly}, {P} the {pkind} ran into the room.")
        t.say("{P} had something in {phis} mouth. It was the {obj}!",
              "{P} was dragging something across the floor. It was the {obj}!",
              "{P} dropped something at {H}'s feet. It was the {obj}!")
        t.maybe(0.7, "{P} had found it {s4}.", "Silly {P} had taken it to play with.")
        t.s["helper"] = t.s["P"]
    t.para()
    t.say('"{cheer}! My {obj}!" {H} shouted.', "{H} was so {happy} to see {his} {obj} again.",
          "{H} jumped up and down. {his} {obj} was back!")
    t.say("{he} hugged {his} {obj} tight.", '"{thanks}, {helper}!" said {H}.', "{he} held it close and {smiled}.")
    closing(t, "From that day on, {H} always put {his} {obj} {safe} before bed.",
            "{H} learned to keep {his} things in a safe place.",
            "After that, {H} always knew where {his} {obj} was.",
            "{H} promised to take good care of {his} {obj}.")


def plot_share(t: Teller) -> None:
    """Two friends fight over one thing and learn to take turns."""
    t.hero()
    t.friend()
    t.grownup()
    t.place()
    thing, use = t.pick(SHARE_THINGS)
    t.s.update(thing=thing, use=use, used=past_tense(use), using=ing_form(use))
    t.s["thingd"] = thing if " " in thing else f"{t.pick(TOY_ADJS + COLORS)} {thing}"
    intro(t, t.pick((1, 2)))
    t.say("{H} had a friend named {F}.", "{H} liked to play with {Fi}.", "{H} and {Fi} liked to play together.",
          "{his} best friend was {F}.")
    t.maybe(0.5, "They played {at_place} almost every day.", "They did everything together.",
            "They liked to {fav} together.")
    t.para()
    t.say("{onday} {H} and {F} went {to_place} to play.", "{onday} {H} and {F} were playing {at_place}.",
          "{onday} {F} came to play with {H} {at_place}.")
    t.maybe(0.4, "{season_line}")
    t.say("There they found {a_thingd}.", "They both saw {a_thingd} at the same time.",
          "There was only one {thingd}, and they both wanted it.", "{H} saw {a_thingd} and wanted to {use} it.")
    t.say('"I want to {use} it!" said {H}.', '"Me first!" {H} shouted.', '"It\'s mine!" said {H}.',
          '"I will {use} it first!" said {H}.')
    t.say('"No, I want to {use} it!" said {F}.', '"No, it is my turn!" {F} cried.', '"But I saw it first!" said {F}.')
    t.say("{H} pulled one way and {F} pulled the other way.", "They both grabbed the {thing} and pulled.",
          "{H} and {F} began to fight over the {thing}.", "They started to shout and push.")
    t.say("{soon}, they were both {sad} and cross.", "{F} began to cry, and {H} felt {feelbad}.",
          "Then the {thing} fell on the ground, and nobody could play with it.", "Nobody was having fun anymore.")
    t.para()
    if t.chance(0.5):
        t.say('{G} saw them and came over. "What is the matter?" {ghe} asked.',
              '{G} heard the shouting. "Why are you two fighting?" {ghe} asked.')
        t.say("{H} and {F} told {G} what had happened.", "They both talked at the same time.")
        t.say('"You can take turns," said {G}. "{H} can go first, and then {F}."',
              '"How about you {use} it together?" {G} said {gently}.',
              '"When we share, everyone can have fun," said {G}.')
    else:
        t.say("{H} looked at {F}'s {sad} face. {H} did not like to see {F} so {sad}.",
              "{H} stopped and thought for a moment.", "{H} took a deep breath.")
        t.say('"Let\'s take turns," said {H}. "You can go first."', '{H} had {a_idea}. "Let\'s share it!" {he} said.',
              '"I\'m sorry," said {H}. "We can {use} it together."')
        t.say('{F} smiled. "{thanks}, {H}!"', '"Really?" asked {F}. {fhis} face lit up.',
              '{F} looked up. "That is a {goodadj} idea," {fhe} said.')
    t.say("{F} {used} the {thing} first, and then {H} had a turn.", "They took turns all afternoon.",
          "First {H} {used} the {thing}. Then it was {F}'s turn.",
          "They {used} the {thing} together, and it was twice as fun.")
    t.maybe(0.7, "{soon}, they were laughing and playing again.", "They laughed and played until the sun went down.",
            "Playing together was much more fun than fighting.")
    closing(t, "{H} learned that sharing is better than fighting.", "{H} and {F} learned that it is good to share.",
            '"Sharing is fun!" said {H}.', "From that day on, {H} and {F} always took turns.",
            "They were best friends again.")


def plot_help(t: Teller) -> None:
    """A friend is in trouble; the hero thinks of a way to help."""
    t.hero()
    t.friend()
    t.grownup()
    t.place()
    trouble = t.pick(TROUBLES)
    t.s["Fx"] = t.pick((t.s["Fn"], t.s["Fi"]))
    intro(t, t.pick((1, 2)))
    t.maybe(0.6, "{H} always liked to help others.", "{H} had a very kind heart.", "{H} was a good friend to everyone.")
    t.para()
    t.say("{onday} {H} was {fav_ing} {at_place} when {he} saw {Fx}.",
          "{onday} {H} went {to_place}. There {he} saw {Fx}.",
          "{onday} {H} heard someone calling {at_place}. It was {Fx}.")
    t.maybe(0.3, "{season_line}")
    t.say(*trouble["see"])
    t.say(*trouble["plea"])
    t.say('"Don\'t worry, {F}! I will help you," said {H}.', '"I\'m coming!" called {H}, and {he} {move} over.',
          "{H} wanted to help. {he} thought and thought.", '"Hold on, {F}!" said {H}.')
    t.para()
    t.say(*trouble["fix"])
    t.say(*trouble["after"])
    t.say('"{thanks}, {H}!" said {F}. "You are a true friend."', '"{thanks} for helping me," said {F}.',
          '{F} hugged {H}. "I am so glad you came," {fhe} said.')
    t.maybe(0.6, '"That is what friends are for," said {H}.', "{H} {smiled}.", "{H} felt warm and happy inside.")
    closing(t, "{H} learned that helping others feels good.", "From that day on, {H} and {F} were the best of friends.",
            "Helping a friend made {H} feel {feelgood}.", "{H} and {F} played together every day after that.")


def plot_broken(t: Teller) -> None:
    """A loved thing breaks; the hero is sad; someone helps fix it."""
    t.hero()
    t.grownup()
    thing, broke, tool, fix = t.pick(BREAKABLES)
    t.s.update(thing=thing, broke=broke, tool=tool, fix=fix)
    t.place()
    intro(t, t.pick((1, 2)))
    t.say("{H} had {a_thing} that {he} loved very much.", "{H} loved {his} {thing} more than anything.",
          "{his} favorite thing was {his} {thing}.", "{H} had a special {thing}. {G} had given it to {him}.")
    t.maybe(0.5, "{he} played with it every single day.", "{he} never went anywhere without it.",
            "It was old, but {H} did not care.")
    t.para()
    cause = t.pick(("self", "friend", "none"))
    if cause == "self":
        t.say("{onday} {H} was playing with {his} {thing}.", "{onday} {H} took {his} {thing} {to_place}.")
        t.say("{he} threw it up high, and it landed on the ground with a bump.", "{he} tripped and dropped it.",
              "{he} played too rough with it and pulled it too hard.")
    elif cause == "friend":
        t.friend()
        t.say("{onday} {Fi} came to play.", "{onday} {H} was playing with {Fi}.")
        t.say("{F} wanted to hold the {thing}. {F} pulled too hard by accident.",
              "{F} did not see the {thing} on the floor and stepped on it.")
    else:
        t.say("{onday} {H} was playing with {his} {thing} {at_place}.", "{onday} {H} took out {his} {thing} to play.")
    t.say("{suddenly}, {broke}!", "{oh}! {broke}.", "Then {H} saw that {broke}.")
    t.say("{H} began to cry.", '"My {thing}!" cried {H}. "It is broken!"', "{H} felt very {sad}.",
          "{H} sat down and cried big tears.")
    if cause == "friend":
        t.say('"I\'m sorry," said {F}. "I did not mean to."', '{F} looked down. "I\'m so sorry, {H}," {fhe} said.')
        t.say('{H} wiped {his} eyes. "It was an accident," {he} said.', '{H} sniffed. "That\'s okay," said {H}.')
    t.para()
    t.say('{G} heard the crying and came to see. "Let me look," {ghe} said.',
          '{G} came over and looked at the {thing}. "I think we can fix it," {ghe} said.',
          '{H} took the {thing} to {G}. "Can you fix it?" asked {H}.')
    t.say("{G} got {tool}.", "{G} went to get {tool}.", '"We need {tool}," said {G}.')
    t.say("Together, they {fix}.", "{H} held it still while {G} {fix}.", "{G} showed {H} how, and they {fix}.")
    t.say("{soon}, the {thing} was as good as new!", "Now the {thing} looked almost new.",
          "It was not perfect, but {H} loved it even more.")
    t.para()
    t.say('"{thanks}, {gcall}!" said {H}.', "{H} {hugged} {G}.", "{H} was so {happy}.")
    closing(t, "{H} learned to be gentle with {his} things.",
               '"When something breaks, we can fix it together," said {G}.',
            "From then on, {H} was always careful with {his} {thing}.",
            "{H} learned that broken things can often be fixed.")


def plot_lesson(t: Teller) -> None:
    """The hero ignores good advice, something goes wrong, and a lesson is learned."""
    t.hero()
    t.grownup()
    t.friend()
    t.pet(("dog", "puppy", "cat", "kitten", "bunny"))
    lesson = t.pick(LESSONS)
    intro(t, t.pick((1, 2)))
    t.maybe(0.5, "{H} was a good {kind}, but sometimes {he} did not listen.", "{H} was always in a hurry.",
            "{H} liked to do things {his} own way.")
    t.para()
    t.say(*lesson["setup"])
    t.say(*lesson["rule"])
    t.maybe(0.5, '"Okay," said {H}.', '"I know," said {H}.', "{H} nodded.")
    t.say(*lesson["disobey"])
    i = t.rng.randrange(len(lesson["conseq"]))
    t.say(lesson["conseq"][i])
    t.maybe(0.5, "{H} began to cry.", "{H} felt very {sad}.", "{H} wished {he} had listened.")
    t.para()
    t.say(lesson["fix"][i % len(lesson["fix"])])
    t.maybe(0.5, '"It\'s okay," said {G}. "Everyone makes mistakes."', '"I\'m sorry, {gcall}," said {H}.',
            '"Next time, I will listen," said {H}.')
    t.say(*lesson["learn"])
    closing(t, "And {H} never forgot that day.", "{H} felt much better.", p=0.4)


def plot_surprise(t: Teller) -> None:
    """The hero plans a surprise for a grown-up; a hiccup; the surprise works."""
    t.hero()
    t.grownup()
    t.pet(("dog", "puppy", "cat", "kitten"))
    helpers = [k for k in (("sister", "she"), ("brother", "he"), ("dad", "he"), ("mom", "she"), ("grandma", "she"),
                           ("grandpa", "he")) if k[0] != t.s["gkind"]]
    kind, he = t.pick(helpers)
    kind = {"sister": "big sister", "brother": "big brother"}.get(kind, kind)
    t._set_char("x", "X", f"{t.s['his']} {kind}", he, kind)
    t.s["occasion"] = occasion = t.pick(("birthday", "birthday", "thanks", "tired"))
    t.s.choices["love"] = ("Happy birthday", "Happy birthday, {gcall}") if occasion == "birthday" else \
        ("I love you", "Thank you", "You are the best", "We love you, {gcall}")
    intro(t, 1)
    t.para()
    if occasion == "birthday":
        t.say("{onday} {H} remembered that it was {G}'s birthday.", "Tomorrow was {G}'s birthday, and {H} had a plan.")
    elif occasion == "thanks":
        t.say("{G} always worked so hard. {H} wanted to say thank you.",
              "{onday} {H} wanted to do something nice for {G}.")
    else:
        t.say("{G} had been very busy and tired all week.", "{onday} {G} came home tired and sleepy.")
    t.say('"Let\'s make a surprise for {gcall}!" {H} whispered to {X}.', "{H} and {X} decided to make a surprise.",
          '{H} went to {X}. "I have a secret plan," {H} whispered.')
    steps = t.sample((
        "{H} drew {a_color} heart and {num} yellow stars on a big card.",
        "{H} picked {flowers} from the garden and put them in a jar.",
        "{X} helped {H} bake a chocolate cake with {color} frosting.",
        "They blew up {num} balloons and tied them to the chairs.",
        "{H} made a crown out of paper and glitter.",
        "{H} wrote \"{love}\" in big wobbly letters.",
        "They hung a long paper chain across the room.",
        "{H} wrapped a little present in {color} paper and tied it with a bow.",
        "{H} painted a picture of the whole family holding hands.",
        "They made a sign with big {color} letters.",
        "{X} helped {H} make a fruit salad with {foods2}.",
        "{H} put {his} best {toy} in a box as a gift.",
    ), 3)
    for step in steps:
        t.say(step)
    t.para()
    t.say("{suddenly}, {P} the {pkind} jumped on the table and knocked over the flowers!",
          "{suddenly}, a balloon popped with a loud BANG!", "Then they heard the front door. {G} was home early!",
          "{oh}! {H} spilled a cup of juice on the card.")
    t.say("{H} and {X} laughed and fixed it fast.", "They had to hurry!", '"Quick, hide!" whispered {X}.')
    t.say("They turned off the lights and hid behind the couch.", "They hid behind the door and waited.",
          "They hid under the table and tried not to giggle.", "They crouched behind the big chair, as quiet as mice.")
    t.say('When {G} came in, they jumped out and shouted, "Surprise!"', '"Surprise!" shouted {H} and {X}.')
    t.para()
    t.say("{G} was so surprised that {ghe} dropped {ghis} bag.", "{G} gasped and put {ghis} hands on {ghis} cheeks.")
    t.say('"This is the best surprise ever," {ghe} said with happy tears.', '"You did all this for me?" {ghe} asked.',
          '"I love it so much," said {G}.')
    t.say("{G} gave {H} the biggest hug in the world.", "{G} hugged {H} and {X} tight.")
    closing(t, "They ate cake and sang songs all evening.", "{H} learned that giving is even more fun than getting.",
            "Making someone happy made {H} happy too.")


def plot_bake(t: Teller) -> None:
    """Baking with a grown-up: steps, a mess or a mistake, and sharing the result."""
    t.hero()
    t.grownup()
    t.pet(("dog", "puppy", "cat", "kitten"))
    bake, short, they, done, what = t.pick(BAKE_THINGS)
    t.s["is_ready"] = "Are they ready yet?" if they == "they" else "Is it ready yet?"
    t.s.update(bake=bake, b=short, bthey=they, bit="them" if they == "they" else "it", done=done,
               bwas="were" if they == "they" else "was")
    parts = words(what)
    i1, i2, i3 = (parts[i] for i in sorted(t.sample(range(len(parts)), 3)))
    t.s.update(i1=i1, i2=i2, i3=i3)
    intro(t, t.pick((1, 2)))
    t.maybe(0.6, "{H} loved to help in the kitchen.", "{H} always wanted to be a baker.", "{H} loved {yummy} treats.")
    t.para()
    t.say('{onday} {G} said, "Let\'s bake {bake} today!"', '{onday} {H} asked, "{gcall}, can we bake {bake}?"',
          "{onday} {H} and {G} decided to bake {bake}.")
    t.say("{H} put on a little apron and washed {his} {hands}.", '"{cheer}!" said {H}.', "{H} jumped up and down.",
          "{H} ran to the kitchen and pulled on {his} {color} apron.")
    t.say("{G} got out a big bowl and a wooden spoon.", "They got out a bowl, a spoon and a big pan.",
          "{H} found the biggest bowl in the kitchen.", "{G} put a stool by the table so {H} could reach.")
    t.say("First, they put in the {i1}. Then {H} added the {i2} and the {i3}.",
          "{H} poured in the {i1}, and {G} added the {i2}. Then they put in some {i3}.")
    t.say("{H} stirred and stirred until it was smooth.", "They took turns mixing. Round and round went the spoon.",
          "{H} mixed it all with the big spoon. It was sticky and thick.", "They stirred until {H}'s arm was tired.",
          "Stir, stir, stir! {H} did not spill a drop.")
    t.para()
    trouble = t.pick(("flour", "forgot", "egg", "burn", "wait"))
    if trouble == "flour":
        t.say("{H} poured the flour too fast. Poof! A big white cloud filled the kitchen.")
        t.say("{H} and {G} were white from head to toe. They laughed and laughed.")
        t.say("Then they cleaned up the mess together.")
    elif trouble == "forgot":
        t.say("They put the {b} in the oven. When {bthey} came out, {H} took a bite.")
        t.say('"Yuck!" said {H}. It was not sweet at all. They forgot the sugar!')
        t.say("{G} laughed. They made the {b} again, and this time they did not forget.")
    elif trouble == "egg":
        t.say("{H} picked up an egg, but it slipped. Splat! It fell on the floor.")
        t.say("{P} the {pkind} came running to look.", "{G} said, \"That's okay. We have more eggs.\"")
        t.say("They cleaned it up, and {H} cracked a new egg very {gently}.")
    elif trouble == "burn":
        t.say("They put the {b} in the oven and went to play.")
        t.say("{oh}! They forgot to watch the clock. The edges got a little burned.")
        t.say("{G} cut off the dark parts. The rest was still {yummy}.")
    else:
        t.say("They put the {b} in the oven. {H} wanted to open the oven every minute.")
        t.say('"{is_ready}" {H} asked again and again.')
        t.say('"Good things take time," said {G}. They played a game while they waited.')
    t.say("{soon}, the whole house smelled {goodsmell}.", "The kitchen smelled warm and sweet.",
          "{soon}, a {yummy} smell filled the house.")
    t.say("{finally}, the {b} {bwas} ready. It was {done}.", "{finally}, they had {done}.")
    t.para()
    t.say("{H} took some to {shareto}.", "{H} shared the {b} with {shareto}.", "{H} saved some for {shareto}.")
    t.say('"So {yummy}!" everyone said.', "Everyone said {bthey} {bwas} the best {b} ever.",
          "Everyone smiled and asked for more.")
    closing(t, "{H} learned that food tastes best when you share it.", "Baking with {G} was the best thing ever.",
            "{H} could not wait to bake again.", "Even with a mess, baking was fun.")


def plot_new_friend(t: Teller) -> None:
    """Someone new arrives and is left out; the hero says hello; they become friends."""
    t.hero()
    t.friend(animal=t.animal)
    t.grownup()
    t.place()
    way, shy = t.pick(NEW_FRIEND_WAYS)
    intro(t, t.pick((1, 2)))
    t.maybe(0.5, "{H} had many friends, but {he} always wanted one more.", "{H} liked to meet new friends.")
    t.para()
    if t.animal:
        t.say("{onday} a new {fkind} named {F} came to live {at_place}.",
              "{onday} {Fn} moved into the old house by the {place}.")
    else:
        t.say("{onday} a new family moved in next door. They had {a_fkind} named {F}.",
              "{onday} a new {fkind} named {F} came to {H}'s school.")
    t.say(way)
    t.say(shy)
    t.maybe(0.6, "Nobody asked {F} to play.", "{F} watched the others play, but {fhe} did not join in.")
    t.para()
    t.say("{H} saw {F} sitting alone. {H} remembered how it felt to be new.", "{H} looked at {F}. {F} looked {sad}.",
          "{H} thought about how lonely {F} must be.")
    t.say('{H} {move} over and said, "Hi! I\'m {H}. Do you want to {fav} with me?"',
          '{H} went up to {F} with a big smile. "Hello! Do you want to be my friend?" {he} asked.',
          '"Hi, {F}," said {H}. "Come and play with us!"')
    t.say("{F} looked up and smiled a small smile.", '{F} nodded. "Yes, please," {fhe} said softly.',
          '"Really?" asked {F}. {fhis} face lit up.')
    t.say("They played together all afternoon.", "They played tag, built a fort and laughed a lot.",
          "They {fav_past} together until it was time for dinner.")
    t.say(*NEW_FRIEND_GIFTS)
    t.maybe(0.6, '"That is so cool!" said {H}.', "{H} had never seen anything like it.")
    t.para()
    t.say("The next day, the others wanted to play with {F} too.", "{soon}, everyone wanted to be friends with {F}.",
          "After that, {F} was not shy anymore.")
    closing(t, "{H} learned that everyone needs a friend.", "{H} and {F} became best friends.",
            "A new friend can be the best gift of all.", "{H} was glad {he} had said hello.")
