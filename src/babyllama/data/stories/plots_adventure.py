"""Story plots that go out into the world: a fear faced, a trip, a race, the weather, a garden, a rescue,
a treasure hunt."""
from __future__ import annotations

from babyllama.data.stories.grammar import words
from babyllama.data.stories.lexicon import (
    FEARS, LANDMARKS, PLANTS, RACE_GOALS, RESCUES, TREASURE_BOXES, TREASURE_FINDS, TRIPS, WEATHERS,
)
from babyllama.data.stories.teller import Teller, closing, intro

# Each plot writes a whole story into a Teller. Sentences that start with "{he}" always
# follow a sentence about the hero, so pronouns point at the right character.


def plot_fear(t: Teller) -> None:
    """The hero is afraid of something, gets help, tries, and finds it is not so bad."""
    t.hero(animal=t.chance(0.2))
    t.grownup()
    t.friend(animal=False if not t.animal else None)
    fear = t.pick(FEARS)
    intro(t, 1)
    t.say(*fear["intro"])
    t.maybe(0.4, "{he} did not tell anyone.", "{he} wished {he} could be brave.", "It made {him} feel small.")
    t.para()
    t.say(*fear["start"])
    i = t.rng.randrange(len(fear["scary"]))
    t.say(fear["scary"][i])
    t.say(*fear["call"])
    t.para()
    t.say(*fear["help"])
    t.maybe(0.5, "{brave_line}")
    t.say(*fear["act"])
    t.say(fear["reveal"][i % len(fear["reveal"])])
    t.para()
    t.say(*fear["win"])
    t.maybe(0.6, '"I am so proud of you," said {G}.', '"You were very brave," said {G}.', "{H} felt proud and tall.")
    closing(t, "{H} learned that being brave means trying, even when you feel scared.",
            "{H} was not afraid anymore.", "From then on, {H} knew {he} could be brave.",
            "Sometimes the scary things are not so scary when you look closely.")


def plot_trip(t: Teller) -> None:
    """A trip somewhere new: getting there, sights, a small problem, home again."""
    t.hero(animal=t.chance(0.25))
    t.grownup()
    trip = t.pick(TRIPS)
    t.s["dest"] = t.pick(trip["name"])
    t.s["go"] = t.pick(trip["go"])
    intro(t, t.pick((1, 2)))
    t.maybe(0.5, "{H} had never been to the {dest} before.", "{H} loved going on trips.",
                 "{H} always wanted to see the {dest}.")
    t.para()
    t.say('{onday} {G} said, "Today we are going to the {dest}!"', "{onday} {G} took {H} to the {dest}.",
          '{onday} {G} had a surprise. "We are going to the {dest}," {ghe} said.')
    t.say('"{cheer}!" {H} shouted. {he} jumped up and down.', "{H} was so excited that {he} could not sit still.",
          "{H} clapped {his} {hands}.")
    t.maybe(0.6, "{H} packed {his} {toy}, {a_snack} and a sun hat.",
                 "{H} put on {his} {color} shoes and {his} favorite hat.")
    t.say("They went {go}.", "They rode {go} for a long time.", "The trip {go} was long, but fun.")
    t.maybe(0.6, "On the way, {H} saw {sight} and {sight}.", "{H} looked out the window and counted {plural_sight}.")
    t.para()
    t.maybe(0.3, "{season_line}")
    a, b = t.sample(trip["see"], 2)
    t.say(a)
    t.say(b)
    t.say(*trip["do"])
    t.maybe(0.5, "For lunch, {H} ate {a_food}.", "They stopped for a snack. {H} had {a_food}.",
            "{G} bought {H} {a_food}.")
    i = t.rng.randrange(len(trip["problem"]))
    t.say(trip["problem"][i])
    t.say(trip["fix"][i])
    t.para()
    t.say("When the sun went down, it was time to go home.", "At the end of the day, they went home {go}.",
          "{soon}, it was time to go home.")
    t.maybe(0.6, "{H} fell asleep on the way.", "{H} was tired, but {he} was happy.",
                 "{H} waved goodbye to the {dest}.")
    closing(t, '"Can we come back again?" asked {H}. {G} smiled and said yes.', "It was the best trip ever.",
            "{H} told all {his} friends about the {dest}.", "That night, {H} dreamed about the {dest}.")


def plot_race(t: Teller) -> None:
    """A race with a friend: bragging, a slip, kindness, and what winning means."""
    t.hero(animal=t.chance(0.6))
    t.friend()
    t.grownup()
    t.place()
    t.s["goal"] = t.pick(RACE_GOALS)
    t.s["prize"] = t.pick(words("a shiny medal, a blue ribbon, a big cookie, a gold star, a little cup, a paper crown"))
    shape = t.pick(("brag", "help", "lose", "practice"))
    intro(t, 1)
    t.say("{H} had a friend named {F}.", "{H} liked to play with {Fi}.", "{his} best friend was {F}.",
          "{H} and {Fi} liked to run and play.")
    if shape == "brag":
        t.say("{F} was very fast, and {fhe} liked to tell everyone.",
              '{F} always said, "I am the fastest in the whole {place}!"')
    elif shape == "practice":
        t.say("{H} was not very fast, but {he} wanted to be.", "{H} wanted to win a race one day.")
    t.para()
    t.say("{onday} {H} and {F} met {at_place}.", "{onday} all the friends came {to_place} for a big race.")
    t.maybe(0.4, "{season_line}")
    t.say('"Let\'s race to {goal}!" said {F}.', '"Who can run to {goal} first?" asked {F}.')
    t.maybe(0.6, 'The winner would get {prize}.', '"Okay!" said {H}. {he} was ready.')
    t.say('"Ready, set, go!" shouted {G}.', '"On your marks, get set, go!" called {G}.')
    t.para()
    if shape == "brag":
        t.say("{F} ran far ahead. {F} looked back and laughed.", "{F} zoomed away like the wind.")
        t.say('"I am so far ahead, I can stop for a nap," said {F}. {F} lay down under a tree.',
              '{F} stopped to eat some {foods} by the path. "I have lots of time," said {F}.')
        t.say("{H} did not stop. {he} kept going, step by step.", "{H} went slow and steady, and {he} never stopped.")
        t.say("When {F} woke up, {H} was almost at {goal}!", "{F} looked up. {H} was already at {goal}!")
        t.say("{H} won the race!", "{H} crossed the finish first!")
        t.say('{F} felt silly. "You won, {H}," {fhe} said. "I should not have stopped."', "{F} learned not to brag.")
        closing(t, "Slow and steady can win the race.", "From then on, {F} never bragged again.",
                "{H} gave {F} a big smile, and they raced again the next day, just for fun.")
    elif shape == "help":
        t.say("{H} and {F} ran side by side.", "They ran as fast as their legs could go.")
        t.say("{suddenly}, {F} tripped on a rock and fell down.", "{suddenly}, {F} slipped in the mud and fell.")
        t.say('"Ouch!" cried {F}.', '"My leg!" {F} cried.')
        t.say("{H} could win the race. But {H} stopped and went back.", "{H} stopped running and turned around.")
        t.say('"Are you okay?" asked {H}. {H} helped {F} stand up.',
              '"I will help you," said {H}, and {he} held out {his} hand.')
        t.say("They walked to {goal} together, arm in arm.", "Together, they crossed the finish at the same time.")
        t.say("Everyone clapped and cheered for them.", "{G} said it was the kindest race {ghe} had ever seen.")
        closing(t, "{H} learned that being kind is better than winning.",
                   "It did not matter who won. They were friends.",
                "They both got {prize}.")
    elif shape == "lose":
        t.say("{H} ran fast, but {F} ran faster.", "{H} ran and ran, but {F} was a little bit faster.")
        t.say("{F} got to {goal} first.", "{F} won the race.")
        t.say("{H} felt {sad} for a moment.", "{H} wanted to cry, just a little.")
        t.say('Then {H} smiled. "Good race, {F}!" {he} said.', '{H} took a breath. "You were so fast!" said {H}.')
        t.say('{F} smiled back. "Let\'s race again tomorrow," said {F}.', '{F} shared {prize} with {H}.')
        closing(t, "{H} learned that playing is fun, even when you do not win.",
                   "Racing with a friend was the best part.",
                "They laughed all the way home.")
    else:
        t.say("{H} ran fast, but {F} won.", "{H} came last, and {he} felt {sad}.")
        t.say("So {H} practiced every day. {he} ran up the hill and down the hill.",
              "Every morning, {H} ran {to_place} and back to get faster.")
        t.say('"Keep going!" said {G}. "You are getting faster."', "Day by day, {H} got a little faster.")
        t.say("The next week, they had another race.", "{soon}, it was time for a new race.")
        t.say("This time, {H} ran so fast that {he} won!", "This time, {H} and {F} crossed the line together!")
        closing(t, "{H} learned that practice helps you grow.", '"I did it!" shouted {H}.',
                   "{H} felt proud of {his} hard work.")


def plot_weather(t: Teller) -> None:
    """A plan is spoiled by the weather; a better idea turns the day around."""
    t.hero()
    t.grownup()
    w = t.pick(WEATHERS)
    t.set_season(t.pick(w["season"]))
    plan = t.pick(w["plan"])
    t.s["plan"] = plan.format_map(t.s)
    t.s["plan_we"] = plan.replace("{his}", "your")
    t.s["plan_short"] = "picnic" if "picnic" in plan else "trip" if "beach" in plan else "plan"
    intro(t, t.pick((1, 2)))
    t.maybe(0.5, "{season_line}", "It was {season}.")
    t.para()
    t.say("{onday} {H} wanted to {plan}.", '{onday} {G} said, "Today we will {plan_we}!"',
          "{H} had a big plan for the day. {he} was going to {plan}.")
    t.say("{H} was so excited.", '"{cheer}!" said {H}.', "{H} got ready very fast.")
    t.say(*w["bad"])
    t.say(*w["spoil"])
    t.maybe(0.6, "{H} felt {sad}.", '"This is the worst day ever," said {H}.', "{H} sat down with a big frown.")
    t.para()
    t.say('"Don\'t be sad," said {G}. "I know what we can do."', "{G} smiled warmly.", "{G} gave {H} a hug.")
    t.say(*w["idea"])
    t.say(*w["end"])
    t.maybe(0.6, "{H} laughed and laughed.", "{H} was not {sad} anymore.", "{H} forgot all about being {sad}.")
    closing(t, "{H} learned that a change of plans can still be fun.", "Even a bad weather day can be a good day.",
            '"Let\'s do that again," said {H}.')


def plot_garden(t: Teller) -> None:
    """Planting seeds, waiting, a setback, patience, and a harvest to share."""
    t.hero()
    t.grownup()
    t.set_season("spring")
    seeds, plant, crop = t.pick(PLANTS)
    t.s.update(seeds=seeds, plant=plant, crop=crop.format_map(t.s))
    intro(t, 1)
    t.para()
    t.say("{onday} {G} gave {H} a little bag of {seeds}.",
          '{onday} {G} said, "Let\'s plant a garden!" Then {ghe} gave {H} some {seeds}.',
          "{onday} {H} found a packet of {seeds} in the shed.")
    t.maybe(0.5, "{season_line}")
    t.say("{H} dug a little hole in the dirt.", "{H} took a small shovel and dug a row of holes.")
    t.say("{he} put the seeds in the holes and covered them with soil.", "{he} dropped in the seeds, one by one.",
          "{he} pushed each seed into the soft ground with {his} finger.",
          "{he} planted the seeds in a long, straight row.")
    t.say("Then {he} gave them water from {his} little {color} watering can.", "Then {H} watered them {gently}.")
    t.para()
    t.say("Every morning, {H} ran outside to look. But nothing happened.",
          "{H} waited one day, then two days, then three. Nothing!",
          "Each day, {H} checked the dirt. It was still just dirt.",
          "{H} looked at the garden after breakfast and after lunch. Nothing had changed.")
    t.say('"Why is it not growing?" asked {H}.', '"Maybe my seeds are broken," said {H} {sadly}.')
    t.say('"Seeds need sun, water and time," said {G}. "You must be patient."',
          '{G} smiled. "Good things grow slowly," {ghe} said.')
    t.maybe(0.5, "So {H} kept watering and waiting.", "{H} sang songs to the seeds to help them grow.")
    t.para()
    t.say("{finally}, one morning, {H} saw a tiny green sprout!",
          "Then, one day, a little green leaf poked out of the ground.",
          "One rainy morning, {H} saw two tiny leaves in the dirt.", "{finally}, something small and green came up.")
    t.say('"{cheer}! It is growing!" shouted {H}.', "{H} jumped for joy.")
    if t.chance(0.5):
        t.say("But the next day, a hungry {pest} came and nibbled the leaves.",
              "{oh}! {a_pest} was eating the little leaves.")
        t.say("{H} and {G} made a little fence around the garden.", "{H} made a funny scarecrow with an old hat.")
    t.say("The {plant} grew bigger and bigger.", "Week after week, the {plant} grew.")
    t.say("By summer, {H} could pick {crop}!", "{soon}, {H} had {crop}.")
    t.para()
    t.say("{H} shared {his} harvest with {shareto}.", "They made {a_yummy} dinner with what {H} grew.",
          "{H} was so proud of {his} garden.")
    closing(t, "{H} learned that waiting is hard, but it is worth it.", "Being patient was not easy, but it paid off.",
            "{H} planted new seeds the very next spring.")


def plot_rescue(t: Teller) -> None:
    """The hero finds an animal in trouble and takes care of it."""
    t.hero()
    t.grownup()
    t.place()
    r = t.pick(RESCUES)
    intro(t, t.pick((1, 2)))
    t.maybe(0.5, "{H} loved all animals, big and small.", "{H} was very gentle with animals.")
    t.para()
    t.say("{onday} {H} was {fav_ing} {at_place}.", "{onday} {H} went for a walk with {G}.",
          "{onday} {H} was playing outside.")
    t.maybe(0.5, "{season_line}")
    t.say(*r["find"])
    t.say(*r["state"])
    t.say('"{oh}! Poor little thing," said {H}.', '"Don\'t worry, I will help you," {H} whispered.',
          "{H} knew {he} had to help.")
    t.para()
    t.say(*r["care"])
    t.maybe(0.5, '"You are safe now," said {H} softly.', '"What a good helper you are," said {G}.')
    t.say(*r["back"])
    t.say(*r["after"])
    closing(t, "{H} felt proud that {he} had helped.", "{H} learned that even small animals need kindness.",
            "{H} would always remember {his} little friend.")


def plot_treasure(t: Teller) -> None:
    """A map, a treasure hunt with a friend, a lost clue, and a treasure."""
    t.hero()
    t.friend()
    t.grownup()
    t.s["loot"] = t.pick(TREASURE_FINDS).format_map(t.s)
    l1, l2, l3 = t.sample(LANDMARKS, 3)
    t.s.update(l1=l1, l2=l2, l3=l3, box=t.pick(TREASURE_BOXES))
    intro(t, t.pick((1, 2)))
    t.maybe(0.5, "{H} loved stories about pirates and treasure.", "{H} always wanted to find a real treasure.",
            "{H} liked to pretend {he} was a brave explorer.")
    t.para()
    t.say("{onday} {H} found an old map {mapspot}.",
          "{onday} a rolled-up paper fell out of a book. It was a treasure map!",
          "{onday} {H} found a folded paper {mapspot}. It was a map!")
    t.say("On the map, there was a big red X.", "The map had a path of dots and a big X at the end.",
          "There were little drawings on it and a big X in one corner.", "The map showed {l1}, {l2} and a big black X.")
    t.say('"A treasure map!" {H} shouted. {H} ran to show {Fi}.', "{H} showed the map to {Fi}.",
          "{H} ran next door to get {Fi}.", '"Look what I found!" {H} said to {Fi}.')
    t.say('"Let\'s find the treasure!" said {F}.', '"What are we waiting for?" said {F}.',
          '"Wow! Let\'s go!" said {F}.',
          "{F}'s eyes got big. \"A real treasure hunt!\" {fhe} said.")
    t.para()
    t.maybe(0.4, "{season_line}")
    t.say("The map said to start at {l1}.", "First, the map showed {l1}.", "The first dot on the map was {l1}.")
    t.say("From there, they walked {num} big steps to {l2}.", "They followed the path to {l2}.",
          "Next, they went to {l2}, hopping over puddles on the way.", "Then they counted {num} steps toward {l2}.")
    t.say('{notespot}, they found a note. It said: "Look {near} {l3}."',
          'There was a note {notespot2}. It said: "Go to {l3}."',
          '{F} found a clue {notespot2}. It said: "The treasure is {near} {l3}."')
    if t.chance(0.5):
        t.say("{suddenly}, a gust of wind blew the map out of {H}'s hand! It flew into the pond.",
              "{oh}! {F} dropped the map in a puddle, and the ink ran.",
              "{suddenly}, a goat came by and ate the corner of the map!")
        t.say('"Now we will never find it," said {F}.', '"What will we do now?" asked {H}.',
              "For a moment, nobody said a word.")
        t.say("But {H} had looked at the map many times. {H} remembered the way!",
              "{F} remembered the big X. It was {near} {l3}!",
              "{H} closed {his} eyes and thought hard. Then {he} remembered the note.")
    t.para()
    t.say("They dug and dug with a little shovel. Clunk! They hit {box}.", "Under some leaves, they found {box}.",
          "{near_cap} {l3}, the ground looked soft. They dug with their {hands} and found {box}.",
          "They looked and looked. {finally}, {H} saw {box} hidden in the grass.")
    t.say("Inside, they found {loot}!", "They opened it and found {loot}.",
          "Slowly, they lifted the lid. Inside was a big surprise: {loot}.")
    t.say('"{cheer}! We found it!" they shouted.', "They jumped up and down.", "They danced around in a circle.",
          "{H} and {F} gave each other a high five.")
    t.maybe(0.6, "{G} came out and smiled. {G} had made the treasure hunt just for them.",
            '{G} winked. "I wonder who hid that," {ghe} said.', "Later, they found out that {G} had hidden the box.")
    closing(t, "{H} and {F} shared the treasure.", "The best part was finding it together.",
            "The next day, {H} and {F} made a treasure map for {G}.", "It was the best treasure hunt ever.")
