"""The story generator's lexicon: names, word lists, template slots and the sentence tables of each plot.

Data only (no story logic). `RANDOM` maps a template slot such as "{happy}" to its choices.
"""
from __future__ import annotations

from babyllama.data.stories.grammar import plural
from babyllama.data.stories.grammar import words as _w

# ---------------------------------------------------------------------------- names and word lists

GIRL_NAMES = _w(
    "Lily, Mia, Emma, Sue, Anna, Lucy, Zoe, Amy, Ella, Sara, Kate, Jane, Rose, Ruby, Ivy, Grace,"
    "Chloe, Daisy, Molly, Sophie, Lola, Nora, Hannah, Emily, Olivia, Ava, Isla, Maya, Leah, Julia,"
    "Nina, Tina, Kim, Jill, Beth, Meg, Pam, Ann, Eva, Clara, Alice, Bella, Stella, Luna, Hazel, Poppy,"
    "Willow, Amara, Zara, Priya, Aisha, Fatima, Mei, Yuki, Sakura, Ana, Lucia, Sofia, Elena, Carmen,"
    "Rosa, Nadia, Leila, Tara, Asha, Ada, Iris, Fern, Pearl, Ellie, Katie, Lisa, Laura, Mary, Helen,"
    "Ruth, Ellen, Josie, Lottie, Millie, Tilly, Evie, Maisie, Freya, Esme, Thea, Elsie, Abby, Becky,"
    "Cindy, Dora, Gina, Heidi, Irene, Jenny, Kara, Lena, Mila, Naomi, Paula, Rita, Sally, Tess, Vera,"
    "Wendy, Yara, Zelda, Amelia, Aria, Layla, Penny, Holly, Ginny, Dottie, Matilda, Edith, Greta,"
    "Anya, Kiki, Lulu, Mimi, Nell, Polly, Rosie, Sadie, Trixie, Winnie, Bea, Cora, Dina, Esther,"
    "Flora, Gemma, Hattie, Ida, Jade, Keira, Lara, Maria, Noor, Opal, Pia, Rhea, Suki, Talia, Uma,"
    "Wren, Zuri, Imani, Nia, Ines, Lina, Marta, Hana, Ayla, Elif, Mira, Anika, Dalia, Greer"
)

BOY_NAMES = _w(
    "Tom, Ben, Max, Sam, Tim, Jack, Leo, Finn, Jake, Luke, Noah, Liam, Owen, Adam, Alex, Bob, Bill,"
    "Dan, Eli, Evan, Felix, Gus, Hugo, Ian, Jay, Joe, Kai, Levi, Mark, Ned, Oscar, Paul, Pete, Ray,"
    "Rex, Ryan, Seth, Ted, Toby, Tony, Victor, Will, Zack, Arlo, Milo, Otto, Theo, Jonah, Caleb,"
    "Henry, Harry, Oliver, Jacob, Ethan, Lucas, Mason, Logan, Ravi, Arjun, Omar, Ali, Yusuf, Hiro,"
    "Kenji, Chen, Mateo, Diego, Carlos, Pablo, Luis, Marco, Nico, Ivan, Boris, Anton, Emil, Hans,"
    "Lars, Sven, Olaf, Kofi, Kwame, Tunde, Jomo, Amir, Sami, Rami, Dev, Raj, Bruno, Cody, Danny,"
    "Eddie, Frank, George, Jimmy, Kevin, Larry, Mikey, Nate, Ollie, Percy, Ricky, Sid, Vince, Wally,"
    "Alfie, Archie, Bertie, Charlie, Dexter, Ezra, Freddie, Gabe, Harvey, Isaac, Jasper, Kit, Louie,"
    "Monty, Ozzie, Rocco, Rufus, Stan, Tobias, Walter, Xavier, Yuri, Zeke, Abe, Barney, Cal, Dean,"
    "Elliot, Fred, Glen, Hank, Iggy, Joel, Kurt, Lenny, Moe, Neil, Otis, Phil, Quentin, Reggie,"
    "Simon, Todd, Wade, Timmy, Bobby, Johnny, Matteo, Tariq, Idris, Malik, Jin, Tao, Arun, Sunil"
)

PET_NAMES = _w(
    "Pip, Spot, Fluffy, Bubbles, Patch, Sunny, Coco, Biscuit, Pepper, Ziggy, Nibbles, Button,"
    "Whiskers, Snowy, Dot, Bingo, Scout, Pickles, Peanut, Muffin, Cookie, Honey, Ginger, Sparky,"
    "Tiny, Hoppy, Squeaky, Fuzzy, Buzzy, Paws, Socks, Shadow, Maple, Acorn, Pebble, Puddle, Twinkle,"
    "Dusty, Rusty, Sniffy, Wiggles, Tuffy, Noodle, Bean, Dumpling, Mango, Olive, Clover, Nutmeg,"
    "Toffee, Jelly, Marble, Bramble, Thistle, Blossom, Flash, Zippy, Chirpy, Quackers, Waddles,"
    "Flipper, Splash, Sprout, Crumbs, Bouncer, Nugget, Pumpkin, Waffles, Pudding, Buttons, Snuggles,"
    "Fidget, Tinker, Jingles, Poppet, Scamper, Scruffy, Speckles, Sunbeam, Tumble, Dash, Boo,"
    "Pogo, Ruffles, Smudge, Taffy, Tango, Zuzu, Fizz, Lolly, Misty"
)

# name -> pronoun for grown-ups: ("mom", "Mom", "she") = kind, how the child calls them, pronoun.
GROWNUPS = (
    ("mom", "Mom", "she"), ("dad", "Dad", "he"), ("mom", "Mommy", "she"), ("dad", "Daddy", "he"),
    ("grandma", "Grandma", "she"), ("grandpa", "Grandpa", "he"), ("nana", "Nana", "she"),
    ("papa", "Papa", "he"), ("mother", "Mother", "she"), ("father", "Father", "he"),
)

AUNT_NAMES = _w("May, June, Rose, Bea, Sue, Lou, Kim, Pat, Jo, Edna, Greta, Nell, Ruth, Wanda")

UNCLE_NAMES = _w("Bob, Joe, Ned, Sam, Fred, Hank, Lou, Ray, Will, Otto, Amos, Cy, Gus, Walt")

LAND_ANIMALS = _w(
    "bunny, rabbit, puppy, dog, kitten, cat, bear, fox, mouse, pig, piglet, lamb, goat, pony, horse,"
    "cow, calf, deer, squirrel, hedgehog, raccoon, badger, otter, beaver, mole, monkey, elephant,"
    "lion, tiger, giraffe, zebra, hippo, panda, koala, donkey, llama, skunk, wolf, hamster, turtle,"
    "dinosaur, dragon, unicorn, kangaroo, chipmunk, sloth, lizard, frog, toad, bear cub, lion cub,"
    "tiger cub, fawn, foal, kid goat, polar bear, porcupine, armadillo, alligator, ant"
)

BIRDS = _w(
    "duck, duckling, chick, hen, owl, robin, sparrow, parrot, goose, penguin, swan, bluebird, crow,"
    "eagle, owlet, puffin, hummingbird, pigeon, ostrich, flamingo, woodpecker, gosling, rooster,"
    "pelican, peacock, seagull, blackbird, wren, finch, toucan"
)

BUGS = _w(
    "ant, bee, ladybug, butterfly, caterpillar, snail, beetle, spider, grasshopper, cricket,"
    "firefly, worm, bumblebee, dragonfly, moth"
)

SEA_ANIMALS = _w(
    "fish, crab, seal, whale, dolphin, octopus, starfish, seahorse, jellyfish, shrimp, clam,"
    "lobster, sea turtle, goldfish, tadpole, eel"
)

FARM_ANIMALS = _w("cow, pig, sheep, goat, horse, hen, rooster, duck, goose, donkey, lamb, pony, chick, calf, turkey")

ZOO_ANIMALS = _w(
    "lion, tiger, elephant, giraffe, zebra, monkey, hippo, rhino, panda, penguin, kangaroo, bear,"
    "gorilla, camel, flamingo, crocodile, ostrich, koala, leopard, parrot, seal, peacock, cheetah"
)

PETS = _w("dog, puppy, cat, kitten, bunny, hamster, goldfish, parrot, turtle, guinea pig, mouse, lizard")

ANIMAL_SOUNDS = {
    "dog": "Woof", "puppy": "Woof", "cat": "Meow", "kitten": "Mew", "duck": "Quack",
    "duckling": "Quack", "cow": "Moo", "calf": "Moo", "pig": "Oink", "piglet": "Oink", "lamb": "Baa",
    "sheep": "Baa", "goat": "Maa", "kid goat": "Maa", "horse": "Neigh", "pony": "Neigh",
    "foal": "Neigh", "owl": "Hoo", "owlet": "Hoo", "frog": "Ribbit", "toad": "Croak", "bee": "Buzz",
    "bumblebee": "Buzz", "lion": "Roar", "lion cub": "Roar", "tiger": "Roar", "tiger cub": "Roar",
    "bear": "Grr", "bear cub": "Grr", "mouse": "Squeak", "hamster": "Squeak", "chick": "Peep",
    "hen": "Cluck", "rooster": "Cock-a-doodle-doo", "goose": "Honk", "gosling": "Honk",
    "donkey": "Hee-haw", "crow": "Caw", "robin": "Tweet", "sparrow": "Chirp", "bluebird": "Tweet",
    "wolf": "Awoo", "dragon": "Rawr", "dinosaur": "Rawr", "monkey": "Ooh-ooh", "parrot": "Squawk",
    "seagull": "Squawk", "cricket": "Chirp", "snake": "Hiss", "elephant": "Toot",
}

HOP = set(_w("bunny, rabbit, frog, toad, kangaroo, grasshopper, cricket"))

WADDLE = set(_w("duck, duckling, goose, gosling, penguin, puffin"))

CRAWL = set(_w("turtle, snail, caterpillar, worm, sloth, ant, beetle, lizard, alligator, spider"))

FLY = set(BIRDS) - WADDLE - {"ostrich", "hen", "chick", "rooster",
                             "peacock"} | set(_w("bee, butterfly, ladybug, bumblebee, dragonfly, firefly, moth"))

KID_TRAITS = _w(
    "kind, brave, shy, curious, silly, clever, gentle, friendly, happy, sleepy, playful, cheerful,"
    "funny, busy, quiet, helpful, polite, smart, strong, bouncy, sweet, honest, careful, eager,"
    "lively, jolly, caring, thoughtful, chatty, giggly, sunny, bright, bold, little, good, nice,"
    "excited, energetic, adventurous, imaginative, active, outgoing, honest, easygoing, hopeful,"
    "creative, patient, proud, tidy, messy, noisy, daring, dreamy, merry, lovely, loving, calm"
)

ANIMAL_LOOKS = _w(
    "fluffy, fuzzy, spotty, stripy, tiny, small, little, big, soft, furry, round, chubby, plump,"
    "speckled, shaggy, sleek, long-eared, bushy-tailed, scruffy, gray, brown, white, golden, black,"
    "orange, old, young, baby"
)

COLORS = _w("red, blue, green, yellow, orange, purple, pink, brown, black, white, gray, gold, silver")

TOY_ADJS = _w(
    "shiny, new, old, soft, fuzzy, bright, sparkly, round, tiny, big, special, pretty, colorful,"
    "striped, spotted, fluffy, smooth, shiny new, little, wooden, golden, woolly, squishy, bouncy,"
    "noisy, funny, favorite, lovely, fancy, magic, tiny little, huge, cozy"
)

# (noun, how it is used, where it lives): toys and things a child can lose or share.
TOYS = _w(
    "ball, kite, teddy bear, doll, toy car, toy train, truck, toy boat, robot, drum, whistle, yo-yo,"
    "spinning top, jump rope, hat, scarf, mitten, necklace, bracelet, crown, wand, seashell,"
    "marble, crayon, picture book, blanket, bucket, shovel, bell, key, backpack, umbrella,"
    "toy plane, rocket, toy dinosaur, stuffed bunny, balloon, scooter, wagon, music box, hair clip,"
    "sticker, map, flashlight, lantern, magnifying glass, paintbrush, ukulele, kazoo, tambourine,"
    "xylophone, harmonica, rubber duck, snow globe, tea set, toy tractor, fire truck, puppet,"
    "toy horse, jack-in-the-box, pinwheel, sailboat, storybook, kaleidoscope, race car,"
    "toy elephant, toy owl, egg cup, lunchbox, water bottle, headband, toy guitar, compass, frisbee,"
    "stuffed lion, rag doll, toy bus, train set, toy robot, cowboy hat, sun hat, pom-pom, slinky,"
    "bubble wand, toy drum, tiara, toy ship, bow"
)

# Things that can break and how to fix them: (thing, what went wrong, what fixed it, how).
BREAKABLES = (
    ("teddy bear", "one of its arms came loose", "a needle and thread", "sewed the arm back on"),
    ("teddy bear", "its ear got a big rip", "a needle and thread", "stitched the ear up"),
    ("rag doll", "its leg came off", "a needle and thread", "sewed the leg back on"),
    ("toy car", "one wheel popped off", "a tiny screwdriver", "screwed the wheel back on"),
    ("toy truck", "a wheel fell off", "some glue", "glued the wheel back on"),
    ("kite", "its string snapped", "a new string", "tied a new string to it"),
    ("kite", "its paper got a big tear", "some tape", "taped up the tear"),
    ("toy boat", "its little sail broke", "a stick and some cloth", "made a new sail"),
    ("wagon", "one of its wheels came off", "a hammer and a nail", "fixed the wheel"),
    ("toy robot", "its arm fell off", "a small screwdriver", "put the arm back in place"),
    ("necklace", "its string broke and the beads fell all over", "a new string", "put the beads back on"),
    ("bracelet", "its string snapped", "a piece of ribbon", "tied the beads back together"),
    ("drum", "its top got a hole in it", "a piece of tape", "patched the hole"),
    ("toy train", "it came off its track and a car broke off", "some glue", "glued the car back on"),
    ("puppet", "its button eye fell off", "a needle and thread", "sewed on a new button eye"),
    ("crown", "it bent and a paper point tore off", "some tape and glitter", "fixed the crown"),
    ("toy plane", "one of its wings snapped", "some glue", "glued the wing back"),
    ("umbrella", "it flipped inside out and a piece bent", "a pair of pliers", "bent the piece back"),
    ("music box", "it stopped playing its song", "a tiny key", "wound it up and cleaned it"),
    ("stuffed bunny", "its tail fell off", "a needle and thread", "sewed the tail back on"),
    ("toy guitar", "one of its strings broke", "a new string", "put on a new string"),
    ("scooter", "its handle came loose", "a wrench", "tightened the handle"),
    ("pinwheel", "its stick bent", "a new stick and some tape", "put it on a new stick"),
    ("picture book", "a page tore out", "some tape", "taped the page back in"),
    ("paper boat", "it got soggy and fell apart", "a new sheet of paper", "folded a new boat"),
)

FOODS_ONE = _w(
    "apple, banana, cookie, cupcake, muffin, pear, peach, plum, orange, carrot, sandwich, pancake,"
    "waffle, pretzel, bagel, lollipop, cracker, donut, bun, egg, tomato, cucumber, potato, lemon,"
    "melon, strawberry, cherry, cinnamon roll, biscuit, slice of cake, slice of pizza, ice cream cone,"
    "piece of cheese, bowl of soup, cup of milk, glass of juice, acorn, mango, kiwi, coconut, fig,"
    "corn cob, jelly sandwich, rice cake, honey cake, oat bar, apricot, nectarine, plum cake"
)

FOODS_LIKED = _w(
    "apples, bananas, cookies, pancakes, noodles, soup, carrots, grapes, strawberries, ice cream,"
    "cheese, honey, corn, peas, muffins, cupcakes, waffles, berries, pears, peaches, plums, cherries,"
    "pizza, rice, toast, popcorn, pretzels, crackers, yogurt, pudding, jelly, donuts, watermelon,"
    "oranges, melons, tomatoes, potatoes, pumpkin pie, blueberries, porridge, spaghetti, dumplings,"
    "mangoes, beans, sandwiches, peanut butter, apple pie, cake, bread, soup,"
    "nuts, seeds, clover, acorns, lettuce, cabbage, broccoli, plums, oat cakes"
)

FLOWERS = _w("daisies, roses, tulips, sunflowers, poppies, lilies, violets, daffodils, buttercups, bluebells, "
             "dandelions, pansies, marigolds")

TREES = _w("oak tree, apple tree, pine tree, maple tree, willow tree, cherry tree, birch tree, palm tree, pear tree, "
           "elm tree")

# (name, preposition): outdoor places to play.
PLAY_PLACES = (
    ("park", "in"), ("garden", "in"), ("meadow", "in"), ("playground", "at"), ("backyard", "in"),
    ("field", "in"), ("orchard", "in"), ("yard", "in"), ("woods", "in"), ("hill", "on"),
    ("pond", "by"), ("lake", "by"), ("river", "by"), ("beach", "at"), ("sandbox", "in"),
    ("forest", "in"), ("farm", "on"), ("school yard", "in"), ("village green", "on"), ("clearing", "in"),
)

HOMES = _w(
    "in a little house by the sea, in a cozy house on a hill, in a big city, on a busy street,"
    "in a small village, near a big forest, in a yellow house with a red door, on a quiet farm,"
    "in a tall building with many windows, in a small town, by a sparkly lake, near a green park,"
    "in a little cottage in the woods, at the end of a long road, in a house with a big garden,"
    "next to a bakery, in a blue house near the river, in a tiny house under a big tree"
)

ANIMAL_HOMES = _w(
    "in a hole under a big tree, in a cozy den in the woods, on a busy farm, in a red barn, by a quiet pond,"
    "in a meadow full of flowers, in a hollow log, in a burrow under the hill, in the tall grass by the river,"
    "at the edge of the forest, in a little house by the pond, in a big zoo, in a sunny garden"
)

BIRD_HOMES = _w(
    "in a nest high up in a tree, in a little nest by the pond, on a busy farm, in a red barn, in a sunny garden,"
    "in a birdhouse by the window, in a tall tree at the edge of the forest, in a big zoo"
)

HIDING_SPOTS = _w(
    "under the bed, behind the couch, in the closet, under the table, in the toy box, by the door,"
    "under the pillows, in the laundry basket, behind the curtains, under the rug, in the kitchen,"
    "on the shelf, in the bathtub, under a chair, behind the big plant, in the garden, in the car,"
    "under the stairs, in the sandbox, by the swings, under a pile of leaves, in the bushes,"
    "behind the shed, in the garage, next to the doghouse, inside a boot, under the sofa cushions,"
    "in the dirty clothes, on top of the fridge, in a flower pot, under the porch, in the shoe box,"
    "inside the dog bed, in a kitchen drawer, in the tall grass, behind the tree"
)

SAFE_SPOTS = _w(
    "in the toy box, on the shelf by the bed, in a special basket, in a box under the bed,"
    "on the hook by the door, next to the pillow, in the top drawer, in a safe place"
)

SEASONS = {
    "spring": (_w("sunny, warm, breezy, bright, fresh"),
               ("The flowers were starting to bloom.", "Little green buds were on the trees.",
                "Birds sang in the trees.",
                "The grass was soft and green.", "Bees buzzed from flower to flower.",
                "The air smelled fresh and sweet.",
                "{flowers} were blooming everywhere.", "{a_bird} was singing in {a_tree}.",
                "{a_flybug} flew past {his} nose.",
                "Little lambs were playing in the field.", "The sky was {sky}.")),
    "summer": (_w("sunny, hot, warm, bright, lovely"),
               ("The sun was shining bright.", "The sky was blue and there were no clouds.",
                "It was a hot day and the air was still.",
                "The bees were buzzing in the flowers.", "Everyone was outside in the warm sun.",
                "The days were long and warm.",
                "{a_flybug} landed on a flower.", "The air smelled like {smell}.", "The sky was {sky}.",
                "Little clouds floated by like {cloudshape}.", "{flowers} nodded in the warm wind.")),
    "fall": (_w("windy, cool, crisp, cloudy, golden"),
             ("Red and yellow leaves were falling from the trees.", "The wind blew the leaves around.",
              "The air was cool and fresh.",
              "The pumpkins in the field were big and orange.", "The trees were orange and gold.",
              "A squirrel was hiding acorns under {a_tree}.", "The leaves on {a_tree} were {fallcolor}.",
              "Geese flew across the sky in a long line.", "The leaves went crunch, crunch under {his} feet.")),
    "winter": (_w("cold, snowy, chilly, frosty, white"),
               ("Snow covered the ground like a white blanket.", "The pond was frozen and shiny.",
                "Everyone wore warm coats and hats.",
                "Little snowflakes fell from the gray sky.", "The windows were frosty and white.",
                "Icicles hung from the roof like long shiny teeth.", "{his} breath made little clouds in the cold air.",
                "The snow went crunch, crunch under {his} boots.", "{a_bird} hopped in the snow, looking for seeds.")),
}

FEELINGS_GOOD = _w("happy, glad, proud, excited, joyful, cheerful, thankful, pleased, delighted, warm inside")

FEELINGS_BAD = _w("sad, upset, worried, unhappy, grumpy, lonely, scared, nervous, cross, gloomy")

NUMBER_WORDS = _w("two, three, four, five, six, seven, eight, nine, ten")

AGES = _w("three, four, five, six, seven")

SMELLS = _w(
    "rain, fresh bread, cookies, flowers, the sea, cut grass, pine trees, warm soup, oranges, popcorn,"
    "soap bubbles, hot cocoa, pancakes, lemons"
)

# Things a child likes doing, as base-form verb phrases; past and -ing forms are built on demand.
ACTIVITIES = _w(
    "play with blocks, build sandcastles, draw pictures, paint pictures, sing songs, dance, read books,"
    "ride a bike, jump rope, swing on the swings, fly a kite, pick flowers, chase butterflies,"
    "blow bubbles, splash in puddles, climb trees, play hide and seek, play tag, dig in the sand,"
    "collect shells, collect leaves, count the stars, look at the clouds, help in the garden,"
    "water the flowers, feed the ducks, run in the grass, roll down the hill, make mud pies,"
    "play the drum, tell jokes, skip stones, build forts, play dress-up, stack blocks, hop like a frog,"
    "play with toy cars, do puzzles, listen to stories, make funny faces, spin in circles, bounce a ball,"
    "play catch, hum little songs, watch the birds, look for bugs, sweep the porch, ride on the swing,"
    "play in the snow, slide down the slide, wear silly hats, clap along to music, jump on the bed,"
    "swim in the lake, make paper boats, play with the cat, pet the dog, visit the farm, bake cookies,"
    "plant seeds, stomp in the leaves, play the flute, race toy boats, make necklaces, string beads,"
    "throw pebbles in the pond, climb the big rock, play pretend, wave at the trains,"
    "tap on the piano, go to the beach, play in the mud, hug the cat, trot like a pony, cut paper shapes"
)

# ---------------------------------------------------------------------------------- template slots

# Random words a sentence template may ask for by name, e.g. "{happy}" or "{a_color}".
# An option may itself hold {slots}; they are filled in turn.
RANDOM: dict[str, tuple[str, ...]] = {
    "happy": _w("happy, glad, very happy, so happy, full of joy, cheerful, delighted"),
    "sad": _w("sad, very sad, upset, so sad, unhappy, gloomy"),
    "scared": _w("scared, afraid, frightened, very scared, a little scared, nervous"),
    "big": _w("big, huge, giant, great big, very big, tall"),
    "small": _w("small, little, tiny, teeny"),
    "nice": _w("nice, lovely, wonderful, great, fun, happy"),
    "goodadj": _w("good, great, wonderful, nice, fine, clever"),
    "yummy": _w("yummy, tasty, delicious, sweet, good"),
    "smiled": _w("smiled, grinned, beamed, smiled a big smile"),
    "laughed": _w("laughed, giggled, chuckled"),
    "ran": _w("ran, hurried, rushed, raced, dashed"),
    "walked": _w("walked, went, strolled, wandered"),
    "soon": _w("Soon, After a while, Before long, A little later, Then"),
    "then": _w("Then, Next, After that"),
    "finally": _w("Finally, At last, In the end"),
    "suddenly": _w("Suddenly, All of a sudden, Just then"),
    "cheer": _w("Hooray, Yay, Yippee, Wow, Hurray"),
    "oh": _w("Oh no, Oh dear, Uh-oh, Oh my"),
    "very": _w("very, so, really"),
    "thanks": _w("Thank you, Thanks, Thank you so much, Thank you very much"),
    "goodjob": _w("Good job, Well done, You did it, Great job"),
    "color": COLORS,
    "flowers": FLOWERS,
    "food": FOODS_ONE,
    "foods": FOODS_LIKED,
    "tree": TREES,
    "bird": _w("robin, sparrow, bluebird, crow, finch, blackbird, wren, pigeon"),
    "bug": BUGS,
    "smell": SMELLS,
    "flybug": _w("bee, butterfly, ladybug, dragonfly, bumblebee, moth"),
    "sky": _w("bright blue, full of fluffy clouds, pink and orange, clear and blue, soft and gray"),
    "cloudshape": _w("sheep, cotton balls, marshmallows, big white boats, puffs of smoke"),
    "fallcolor": _w("red and gold, orange and brown, yellow and red, as bright as fire"),
    "num": NUMBER_WORDS,
    "toy": TOYS,
    "farmanimal": FARM_ANIMALS,
    "farmanimals": tuple(plural(a) for a in FARM_ANIMALS),
    "zooanimals": tuple(plural(a) for a in ZOO_ANIMALS),
    "zooanimal": ZOO_ANIMALS,
    "seaanimal": SEA_ANIMALS,
    "feelgood": FEELINGS_GOOD,
    "feelbad": FEELINGS_BAD,
    "hugged": _w("hugged, gave a big hug to, held on tight to, cuddled"),
    "gently": _w("gently, softly, kindly, carefully"),
    "idea": _w("idea, good idea, great idea, clever idea, plan"),
    "smile_line": (
        "{H} smiled from ear to ear.", "{H} felt warm and happy inside.", "{H} could not stop smiling.",
        "{H} did a happy little dance.", "{H} felt like the luckiest {kind} in the world.",
    ),
    "nightline": (
        "That night, {H} fell asleep with a big smile.", "That night, {H} dreamed about the {nice} day.",
        "When the stars came out, {H} was tired but happy.", "At bedtime, {H} told {G} all about it.",
    ),
}

# ------------------------------------------------------------------- the opening every plot shares

OPENINGS = (
    "Once upon a time, there was {a_kd} named {H}.",
    "Once upon a time, there was {a_kd} named {H}.",
    "Once upon a time, there was {a_kd} called {H}.",
    "Once upon a time, {a_kd} named {H} lived {home}.",
    "There once was {a_kd} named {H} who lived {home}.",
    "Once upon a time, {home}, there lived {a_kd} named {H}.",
    "{H} was {a_kd} who lived {home}.",
    "Long ago, {home}, there was {a_kd} named {H}.",
    "In a land far away, there lived {a_kd} named {H}.",
    "Once there was {a_kd}. {his} name was {H}.",
    "Not so long ago, there was {a_kd} named {H}.",
    "Once upon a time, there was {a_kd}. Everyone called {him} {H}.",
    "This is a story about {a_kd} named {H}.",
    "Once upon a time, in a {small} {town}, there was {a_kd} named {H}.",
)

KID_FACTS = (
    "{he} was {age} years old.",
    "{he} lived with {family}.",
    "{H} lived with {family}.",
    "{he} had {hair} hair and {a_eyes} smile.",
)

FACTS = (
    "{he} loved to {fav}.",
    "{H} loved to {fav} more than anything.",
    "every day, {he} liked to {fav}.",
    "{his} favorite thing to do was {fav_ing}.",
    "{his} favorite color was {color}.",
    "{he} liked to eat {foods}.",
    "{he} loved the smell of {smell}.",
    "{H} was {t1} and {t2}.",
    "everyone said {H} was very {t1}.",
    "{he} liked to {fav} with {his} friends.",
    "{H} liked {season} best of all.",
)

RANDOM.update(
    town=_w("town, village, house, city, valley, forest"),
    family=("{his} mom and dad", "{his} mom, {his} dad and {his} baby sister", "{his} grandma and grandpa",
            "{his} dad and two big brothers", "{his} mom and a sleepy old cat", "{his} mom and {his} big sister",
            "{his} two moms", "{his} dad and {his} little brother", "{his} family",
            "{his} mom, {his} dad and a fat gray cat"),
    hair=_w("curly, short, long, straight, messy, red, brown, black, yellow, bouncy"),
    eyes=_w("big, happy, wide, friendly, shy, sunny, bright"),
    age=AGES,
)

# -------------------------------------- the sentence tables of each plot (with the slots they add)

RANDOM.update(toyname=PET_NAMES, safe=SAFE_SPOTS)

# Things two friends may both want: (thing, verb phrase for using it).
SHARE_THINGS = (
    ("swing", "swing on"), ("ball", "kick"), ("toy truck", "push"), ("kite", "fly"),
    ("red crayon", "draw with"), ("shovel", "dig with"), ("bike", "ride"), ("drum", "play"),
    ("jump rope", "jump with"), ("wagon", "pull"), ("scooter", "ride"), ("picture book", "read"),
    ("toy boat", "sail"), ("bucket", "fill"), ("hula hoop", "spin"), ("paintbrush", "paint with"),
    ("toy horse", "ride"), ("green sled", "ride"), ("big blue ball", "bounce"), ("toy train", "drive"),
    ("yo-yo", "play with"), ("magnifying glass", "look through"), ("puppet", "play with"),
)

# Each fear: intro / start / scary / call / help / act / reveal / win sentence choices; scary[i] goes with reveal[i].
FEARS: tuple[dict[str, tuple[str, ...]], ...] = (
    dict(
        intro=("{H} was afraid of the dark.", "There was one thing {H} did not like: the dark.",
               "{H} was brave in the daytime, but at night {he} was afraid of the dark."),
        start=("One night, {G} read {H} a story, kissed {him} good night, and turned off the light.",
               "At bedtime, {G} tucked {H} in and turned off the light."),
        scary=("{H} saw a big shape on the wall. It looked like a monster!",
               "The room was very dark. {H} heard a creak and saw a tall shadow by the door.",
               "{H} saw two shiny eyes in the corner of the room."),
        call=('"{gcall}! There is a monster in my room!" {H} called.', '"{gcall}, I\'m scared!" {H} cried.'),
        help=('{G} came back and turned on a little lamp. "Let\'s look together," {ghe} said.',
              '{G} came in and sat on the bed. "Let\'s see what is there," {ghe} said.'),
        act=("{H} held {G}'s hand and looked.", "{H} peeked out from under the blanket."),
        reveal=("The big shape was just {his} coat on a hook!", "The shadow was only {his} {toy} on the chair.",
                "The shiny eyes were just the buttons on {his} old teddy bear."),
        win=("{G} gave {H} a little night light shaped like a {moonstar}. The dark was not so scary now.",
             '"The dark is just the day with the lights off," said {G}. {H} smiled and closed {his} eyes.',
             "{H} hugged {his} pillow. The room was the same room, with the same toys. {H} fell fast asleep."),
    ),
    dict(
        intro=("{H} was afraid of storms.", "{H} did not like loud noises, and {he} did not like storms at all."),
        start=("{onday} dark clouds filled the sky, and rain began to fall.",
               "{onday} the sky turned gray. The wind blew and the rain came down hard."),
        scary=("Then came a bright flash and a loud BOOM!",
               "Crash! Boom! The thunder was so loud that the windows shook."),
        call=('{H} ran to {G}. "I don\'t like the thunder!" {he} cried.', '"{gcall}! Make it stop!" {H} cried.'),
        help=("{G} held {H} close under a warm blanket on the couch.", "{G} sat down with {H} by the window."),
        act=('"Thunder is just the sound the clouds make," said {G}. "It is loud, but it cannot hurt you."',
             '"Let\'s count," said {G}. "When we see the flash, we count until the boom."'),
        reveal=("They counted: one, two, three, four, five. The booms got softer and softer.",
                "Each time the thunder came, they said, \"Boom!\" and laughed."),
        win=("{soon}, the rain stopped. The sun came out, and a rainbow filled the sky.",
             "The storm went far away, and the birds began to sing again."),
    ),
    dict(
        intro=("{H} loved the playground, but {he} was afraid of the big slide.",
               "{H} liked the swings, but {he} never went down the tall slide."),
        start=("{onday} {H} went to the playground with {Fi}.", "{onday} {H} and {Fi} went to the park to play."),
        scary=("The big slide was very tall. When {H} looked up at it, {his} legs felt wobbly.",
               "{H} looked at the top of the slide. It looked as high as the sky!"),
        call=('"I can\'t go down the big slide," said {H}. "It is too high."', '"What if I fall?" {H} asked.'),
        help=('"I will go first," said {F}. {F} climbed up and slid down. "Whee!"',
              '"You can do it!" said {F}. "I will wait for you at the bottom."'),
        act=("{H} climbed up the steps one by one. At the top, {he} took a deep breath.",
             "{H} held on tight and climbed to the very top."),
        reveal=("{H} sat down and let go. Whoosh! Down {he} went, faster and faster.",
                "{H} pushed off. {he} zoomed down the slide and landed softly on the sand."),
        win=('"That was fun!" {H} shouted. {H} ran back to the steps to go again.',
             "{H} laughed and laughed. {he} went down the slide ten more times."),
    ),
    dict(
        intro=("{H} was afraid of the water.", "{H} liked to look at the water, but {he} did not like to go in."),
        start=("{onday} {G} took {H} to the lake to swim.", "{onday} {G} took {H} to the pool."),
        scary=("The water looked deep and cold. {H} stayed on the edge.",
               "Big kids were splashing and jumping. The water looked very deep."),
        call=('"I don\'t want to swim," said {H}. "What if I sink?"', '"I am too scared," {H} said {sadly}.'),
        help=('"I will hold you," said {G}. "You will be safe with me."',
              '{G} got into the water and held out {ghis} arms. "Come in slowly," {ghe} said.'),
        act=("{H} put one toe in the water. Then {he} put in {his} whole foot.",
             "{H} went down the steps, one at a time, and held {G}'s hands."),
        reveal=("{G} held {H} while {he} kicked {his} legs. Splash, splash! The water felt cool and nice.",
                "{H} kicked and paddled. {he} was floating!"),
        win=('"Look! I am swimming!" {H} shouted. {H} swam and splashed until it was time to go.',
             "{H} splashed and laughed. The water was not scary at all. It was fun!"),
    ),
    dict(
        intro=("{H} was afraid of big dogs.", "Whenever {H} saw a big dog, {he} hid."),
        start=("{onday} {H} was walking to the park with {G}.", "{onday} {H} went for a walk with {G}."),
        scary=("{a_big} dog ran up to them. It was as big as a pony! \"Woof! Woof!\" it barked.",
               "{suddenly}, {a_big} brown dog came running down the street, barking loudly."),
        call=('{H} hid behind {G}. "Make it go away!" {he} whispered.', '"Help!" cried {H}. "A big dog!"'),
        help=('The dog\'s owner came over. "Don\'t be afraid. This is {dogname}, and {dogname} loves children," the '
              'owner said.',
              '{G} bent down. "Look at its tail. It is wagging. That means it is happy," said {G}.'),
        act=("{H} held out {his} hand very slowly.", "{H} took a tiny step closer."),
        reveal=("The dog sniffed {his} hand and then licked it. It tickled!",
                "The big dog sat down and rolled over for a belly rub."),
        win=("{H} laughed and patted the dog's soft head. Big dogs were not so scary after all.",
             "{H} giggled and petted the dog. Now {he} had a big new friend."),
    ),
    dict(
        intro=("{H} was going to start school, and {he} was very nervous.",
               "{H} was about to go to school for the very first time."),
        start=("The first day of school came.", "On the first day of school, {G} walked {H} to the big school."),
        scary=("The school was big and full of children {H} did not know.",
               "There were so many children, and {H} did not know any of them."),
        call=('"What if nobody likes me?" {H} whispered.', '"I want to go home," said {H}. {his} lip shook.'),
        help=('"Just smile and say hello," said {G}. "You will make a friend."',
              '{G} gave {H} a hug. "I will come back after lunch," {ghe} said.'),
        act=("{H} walked into the classroom. {Fn} was sitting alone at a table.", "{H} saw {Fn} painting all alone."),
        reveal=('{H} said hello. "Do you want to paint with me?" asked {F}.',
                '"Hi, I\'m {H}," {H} said. "I\'m {F}," said {F}. "Let\'s play!"'),
        win=("{H} and {F} painted a big {color} sun together. When {G} came back, {H} did not want to go home!",
             "{H} and {F} played all day. School was fun after all."),
    ),
    dict(
        intro=("{H} did not like going to the doctor.", "{H} was afraid of the doctor."),
        start=("{onday} {G} said it was time for a check-up.",
               "{onday} {H} had a cough, so {G} took {H} to the doctor."),
        scary=("The waiting room was quiet. {H}'s tummy felt funny.",
               "{H} sat in the waiting room and held {G}'s hand very tight."),
        call=('"Will it hurt?" {H} asked.', '"I don\'t want to go in," said {H}.'),
        help=('"The doctor helps us stay well," said {G}. "I will stay right next to you."',
              '{G} smiled. "The doctor is very kind. You will see," {ghe} said.'),
        act=("The doctor had a kind face and a big smile. She let {H} listen to {his} own heart.",
             "The doctor was a tall man with funny glasses. He showed {H} how to say \"Ahh.\""),
        reveal=("It did not hurt at all. It was even a little fun!", "The check-up was over so fast!"),
        win=("At the end, the doctor gave {H} a shiny sticker. {H} was very proud.",
             '"You were so brave," said the doctor. {H} smiled all the way home.'),
    ),
    dict(
        intro=("{H} wanted to ride a bike with no training wheels, but {he} was afraid to fall.",
               "{H} had a new bike, but {he} was scared to ride it."),
        start=("{onday} {G} took {H} and {his} bike to the park.",
               "{onday} {G} said, \"Today is a good day to learn.\""),
        scary=("The bike wobbled, and {H} almost fell over.", "{H} got on the bike. It felt wobbly and tall."),
        call=('"I can\'t do it," said {H}. "I will fall!"', '"Please don\'t let go!" {H} cried.'),
        help=('"I will hold the seat," said {G}. "Just look ahead and push the pedals."',
              '"Everyone wobbles at first," said {G}. "Try again."'),
        act=("{H} pushed the pedals, round and round. {G} ran next to {him}.",
             "{H} looked straight ahead and pedaled."),
        reveal=("{G} let go, but {H} did not know. {H} was riding all alone!", "{soon}, {H} was riding all by {self}!"),
        win=('"I did it!" {H} shouted. {H} rode around the park again and again.',
             "{H} rang the bell. Ding, ding! Riding was the best."),
    ),
)

RANDOM.update(
    moonstar=_w("moon, star, little owl, fish, cloud, bunny"),
    dogname=_w("Bruno, Max, Rocky, Duke, Bear, Buster, Lucky, Rex, Bella, Daisy"),
    sadly=_w("sadly, quietly, in a small voice, with a sniff"),
    brave_line=('"I can be brave," {H} said to {self}.', "{H} took a big breath.",
                "{H}'s heart went thump, thump, thump.", "{H}'s knees shook a little, but {he} did not run away."),
)

# A friend in trouble: see / plea / fix / after.
TROUBLES: tuple[dict[str, tuple[str, ...]], ...] = (
    dict(see=("{F} was stuck high up in {a_tree}.", "{F} had climbed up {a_tree} and could not get down."),
         plea=('"Help! I can\'t get down!" cried {F}.', '"I\'m scared! It is too high!" {F} called.'),
         fix=("{H} ran to get {G}. {G} brought a long ladder and helped {F} climb down, step by step.",
              "{H} told {F} where to put {fhis} feet, one branch at a time. Slowly, {F} climbed all the way down."),
         after=("{F} was safe on the ground again.",
                "{F} jumped down the last little bit and landed in the soft grass.")),
    dict(see=("{F} was sitting on the path, holding {fhis} knee.", "{F} had fallen down and scraped {fhis} knee."),
         plea=('"Ouch! My knee hurts," said {F}.',
               '"I fell down, and I can\'t walk," {F} said with tears in {fhis} eyes.'),
         fix=("{H} helped {F} stand up. Slowly, they walked to {H}'s house, and {G} put a bandage on the knee.",
              "{H} gave {F} a hand and walked with {fhim} to {G}. {G} washed the knee and put a bandage on it."),
         after=('"It feels better already," said {F}.', "{soon}, {F} was smiling again.")),
    dict(see=("{F} was crying under {a_tree}.", "{F} was standing all alone, looking this way and that."),
         plea=('"I can\'t find my way home," {F} said.', '"I am lost," said {F}. "Where is my house?"'),
         fix=('"I know the way!" said {H}. {H} and {F} walked past the pond, over the little bridge, and down the '
              'hill.',
              "{H} held {F}'s hand. They followed the path past the big rock and the old fence until they saw {F}'s "
              "house."),
         after=("{F}'s family was waiting at the door. They were so happy to see {F}.",
                "{F} ran to the door and gave {fhis} mom a big hug.")),
    dict(see=("{F}'s kite was stuck in the branches of {a_tree}.",
              "{F} was looking up at {fhis} kite. It was caught in a tall tree."),
         plea=('"My kite! I can\'t reach it," said {F} {sadly}.', '"How will I get my kite back?" {F} asked.'),
         fix=("{H} found a long stick. {H} poked and poked, and the kite fell down.",
              "{H} asked {G} for help. {G} was tall, and {ghe} reached up and pulled the kite free."),
         after=("They flew the kite together all afternoon.",
                "The kite was fine. It flew up high into the blue sky again.")),
    dict(see=("{F} was hungry, but the apples on the tree were too high.",
              "{F} was jumping and jumping to reach an apple on a tree."),
         plea=('"I can\'t reach them," said {F}.', '"I am so hungry, but I am too small," said {F}.'),
         fix=("{H} had {a_idea}. {H} shook the tree as hard as {he} could. Down fell the apples, one, two, three!",
              "{H} found an old box. {F} stood on the box and picked the biggest red apple."),
         after=("They sat in the grass and ate the apples together.",
                "The apple was sweet and crunchy. {F} shared it with {H}.")),
    dict(see=("{F} was stuck in the thick mud by the pond.",
              "{F} had stepped in deep mud, and now {fhis} feet were stuck."),
         plea=('"Help! My feet are stuck!" {F} shouted.', '"I can\'t get out!" cried {F}.'),
         fix=("{H} found a long branch and held out one end. {F} grabbed it, and {H} pulled and pulled. Pop! Out "
              "came {F}.",
              "{H} held {F}'s hands and pulled with all {his} might. With a big squish, {F} came out of the mud."),
         after=("{F} was very muddy, and they both laughed.",
                "They washed off the mud in the pond and laughed and laughed.")),
    dict(see=("{F} was sitting all alone on a bench.", "{F} was standing by the fence, watching the others play."),
         plea=('"Nobody wants to play with me," {F} said {sadly}.', '"I don\'t have anyone to play with," said {F}.'),
         fix=('"I will play with you!" said {H}. They played tag and hide and seek until they were out of breath.',
              '"Do you want to {fav} with me?" asked {H}. {F} nodded, and they played all afternoon.'),
         after=("{F} smiled for the first time that day.", "{F} was not lonely anymore.")),
    dict(see=("{F} had dropped {fhis} basket, and the {foods2} rolled all over the road.",
              "{F} tripped, and {fhis} basket of {foods2} spilled everywhere."),
         plea=('"{oh}," said {F}. "I will never pick them all up."', '"Now I will be late," {F} said {sadly}.'),
         fix=("{H} bent down and helped. They picked up every single one and put it back in the basket.",
              "{H} ran to help. Together, they found every last one, even the one under a bush."),
         after=("{F} gave {H} one to say thank you.", "The basket was full again.")),
    dict(see=("{F} was shivering in the cold wind.", "{F} was cold and {fhis} nose was red."),
         plea=('"I lost my scarf, and I am so cold," said {F}.', '"Brr! I am freezing," said {F}.'),
         fix=("{H} took off {his} own {color} scarf and wrapped it around {F}'s neck.",
              "{H} took {F} home, and {G} made them two cups of hot cocoa."),
         after=('"That is much better," said {F}.', "{soon}, {F} was warm and cozy.")),
    dict(see=("{F} was trying to carry {a_big} pumpkin home, but it was too heavy.",
              "{F} was pulling a heavy bag of {foods2} up the hill."),
         plea=('"I can\'t carry it all by myself," said {F}.', '"It is too heavy for me," {F} said with a sigh.'),
         fix=("{H} took one side and {F} took the other. Together, they carried it all the way home.",
              "{H} ran home and came back with {his} wagon. They put it in the wagon and pulled it together."),
         after=('"We are a good team," said {H}.', "It was easy when they did it together.")),
)

RANDOM.update(foods2=_w("apples, oranges, potatoes, onions, peaches, lemons, plums, carrots, nuts, pears"))

# Places to visit on a trip: how to get there, what is seen, what is done, a small problem and its fix;
# problem[i] goes with fix[i].
TRIPS: tuple[dict[str, tuple[str, ...]], ...] = (
    dict(name=("beach",), go=("in the car", "on a big bus"),
         see=("The waves went whoosh, whoosh on the sand.", "{H} saw {a_seaanimal} in a little pool of water.",
              "Seagulls flew over the water and called, \"Squawk!\"", "The sand was warm and soft under {his} feet."),
         do=("{H} built a big sandcastle with a tall tower.", "{H} collected {num} pretty shells.",
             "{H} jumped over the little waves and laughed.", "{H} dug a deep hole in the sand."),
         problem=("{suddenly}, a big wave came and washed the sandcastle away!",
                  "{suddenly}, the wind blew {H}'s hat into the water!"),
         fix=("{H} laughed and built an even bigger castle.",
              "{G} ran into the water and caught the hat just in time.")),
    dict(name=("zoo",), go=("on a big red bus", "in the car"),
         see=("They saw {a_zooanimal} and {a_zooanimal}.", "There were {num} {zooanimals} playing together.",
              "The monkeys swung from tree to tree.",
              "A big gray elephant sprayed water with its trunk.", "A tall giraffe ate leaves from the top of a tree."),
         do=("{H} fed the goats at the petting zoo.", "{H} made a sound like a lion. Roar!",
             "{H} watched the penguins swim very fast."),
         problem=("When they came to the lions, the lions were all asleep. {H} could not see them play.",
                  "{H} wanted to see the bears, but {he} could not find them."),
         fix=("{soon}, one lion woke up and gave a big yawn. {H} clapped.",
              "{G} looked at the map, and they found the bears by the water.")),
    dict(name=("farm",), go=("in the car", "on the train"),
         see=("They saw cows, pigs and sheep.", "They counted {num} {farmanimals} in the field.",
              "There was {a_farmanimal} and {a_farmanimal} in the barn.",
              "A big red tractor drove by the field.", "The hens were pecking at the ground."),
         do=("{H} helped feed the hens and found {num} brown eggs.", "{H} gave a carrot to a gentle horse.",
             "{H} rode on the big tractor with the farmer."),
         problem=("{suddenly}, a goat grabbed {H}'s hat and started to chew it!",
                  "{H} stepped right into a big puddle of mud!"),
         fix=("Everyone laughed, and the farmer gave {H} a straw hat to keep.",
              "{H} laughed. The farmer gave {him} a pair of boots.")),
    dict(name=("lake", "forest", "mountains"), go=("in the car", "on their bikes"),
         see=("Tall trees swayed in the wind.", "A deer ran across the path.", "They saw a little waterfall.",
              "Birds were singing everywhere."),
         do=("They had a picnic with sandwiches and lemonade.", "{H} skipped stones on the water.",
             "They walked on a long path and found pine cones."),
         problem=("{suddenly}, a line of ants marched onto the picnic blanket!", "{H} was tired, and {his} feet hurt."),
         fix=("They gave the ants a crumb and moved the blanket. The ants were happy too.",
              "{G} carried {H} on {ghis} back for a while. {H} could see everything from up high.")),
    dict(name=("aquarium",), go=("on the train", "on a big bus"),
         see=("There were fish of every color.", "A big shark swam right over their heads.",
              "The jellyfish glowed like little lamps.", "An octopus hid behind a rock."),
         do=("{H} touched a starfish in the touch pool. It felt bumpy.",
             "{H} pressed {his} nose to the glass and waved at the fish."),
         problem=("When it was time to go, {H} did not want to leave.", "{H} could not see over the tall grown-ups."),
         fix=('{G} said, "We can come back another day." {H} waved goodbye to the fish.',
              "{G} lifted {H} up high so {he} could see.")),
    dict(name=("fair",), go=("in the car", "on a big bus"),
         see=("There were rides, music and lights everywhere.", "A merry-go-round went round and round.",
              "{H} smelled popcorn and sweet cotton candy."),
         do=("{H} rode a painted horse on the merry-go-round.", "{H} won a little prize at a game.",
             "They shared a big pink cotton candy."),
         problem=("{suddenly}, {H}'s balloon slipped out of {his} hand and floated away!",
                  "{H} could not find {G} in the big crowd!"),
         fix=("{H} watched it float up to the clouds. {G} tied a new balloon to {his} wrist.",
              "{H} stood still, just like {G} had said. {soon}, {G} found {him} and gave {him} a big hug.")),
    dict(name=("museum",), go=("on the train", "in the car"),
         see=("There were giant dinosaur bones!", "There were old paintings and shiny stones.",
              "A huge whale hung from the ceiling."),
         do=("{H} looked at a dinosaur that was taller than a house.",
             "{H} drew a picture of a dinosaur in {his} little book."),
         problem=("{H} got very excited and shouted, \"Wow!\" Everyone turned to look.", "{H} was hungry and tired."),
         fix=('{G} smiled. "We use quiet voices here," {ghe} whispered. {H} nodded.',
              "They sat on a bench and ate a snack. Then {H} felt much better.")),
)

RANDOM.update(
    snack=_w("apple, sandwich, banana, box of raisins, muffin, bag of crackers, pear, cookie"),
    sight=_w("a red barn, a long river, a windmill, cows in a field, a big bridge, a train, a tall tower, horses, a "
             "boat"),
    plural_sight=_w("the cows, the trees, the red cars, the sheep, the clouds, the houses, the bridges"),
)

# A lesson: the rule, how it was broken, what happened, how it was put right, what was learned;
# conseq[i] goes with fix[i].
LESSONS: tuple[dict[str, tuple[str, ...]], ...] = (
    dict(setup=("{onday} {G} took {H} to the swimming pool.", "{onday} {H} and {G} went to the pool to swim."),
         rule=('"Please walk, and do not run," said {G}. "The floor is wet and slippery."',
               '"Walk slowly by the pool," {G} told {H}. "It is slippery."'),
         disobey=("But {H} wanted to be first. {he} ran as fast as {he} could.",
                  "{H} did not listen. {he} ran and ran."),
         conseq=("{suddenly}, {H} slipped and fell down. {his} knee hurt, and it had a little scrape.",
                 "{H} slipped on a puddle and landed with a bump. {his} elbow was sore."),
         fix=("{G} cleaned the scrape and put on a bandage with little stars on it.",
              "{G} gave {H} a hug and a cold cloth for the bump."),
         learn=("{H} learned to listen when {G} said to walk.", "From then on, {H} always walked by the pool.")),
    dict(setup=("{onday} {G} made a big jar of cookies.", "{onday} {G} came home with a bag of sweet cookies."),
         rule=('"You may have one cookie now, and more after dinner," said {G}.',
               '"Just one treat before dinner," {G} said.'),
         disobey=("But when {G} was not looking, {H} ate one, two, three, four cookies!",
                  "{H} sneaked back to the jar again and again."),
         conseq=("{soon}, {H}'s tummy began to hurt. {he} did not want any dinner at all.",
                 "That evening, {H} had a big tummy ache."),
         fix=("{G} gave {him} a cup of warm tea and rubbed {his} tummy.",
              "{G} tucked {H} in bed and sang {him} a soft song."),
         learn=("{H} learned that too many sweets are not good for a tummy.",
                "After that, {H} only ate one treat at a time.")),
    dict(setup=("{H} played with {his} toys all afternoon. There were blocks, cars and dolls everywhere.",
                "{H} had lots of toys, and {he} played with all of them at once."),
         rule=('"Please put your toys away before bed," said {G}.', '"Time to tidy up your room," {G} said.'),
         disobey=('"Later," said {H}, and {he} kept on playing.',
                  "{H} did not want to tidy up. {he} left the toys all over the floor."),
         conseq=("That night, {H} got up to get a drink of water. {he} stepped on a toy car and fell with a bump!",
                 "The next morning, {H} could not find {his} shoes in the big mess, and {he} was late for the park."),
         fix=("{G} came running and helped {him} up.",
              "{G} helped {H} look until they found the shoes under a pile of blocks."),
         learn=("The next day, {H} put every toy away. Tidying up was not so bad after all.",
                "{H} learned that a tidy room is a happy room.")),
    dict(setup=("{onday} {H} got a new bouncy ball.", "{H} had a red ball that could bounce very high."),
         rule=('{G} always said, "No playing ball in the house."', '"Please play ball outside," {G} said.'),
         disobey=("But it was raining, and {H} was bored. {he} bounced {his} ball in the living room.",
                  "{H} did not listen. {he} threw {his} ball up in the kitchen."),
         conseq=("The ball hit a pretty blue vase, and it broke into pieces! When {G} asked who broke it, {H} said, "
                 "\"It was the cat.\"",
                 "Crash! The ball knocked a cup off the table. {H} hid the pieces under the rug."),
         fix=('{H} felt bad inside all day. {finally}, {he} went to {G}. "I did it, and I\'m sorry," {he} said. {G} '
              'hugged {him}. "Thank you for telling me the truth."',
              'That night, {H} could not sleep. {he} told {G} the truth. "I\'m glad you told me," said {G} {gently}.'),
         learn=("{H} learned that it is always best to tell the truth.",
                "Telling the truth made {H} feel light and happy again.")),
    dict(setup=("{onday} it was very cold, and snow was on the ground.",
                "{onday} the wind was cold and the puddles were frozen."),
         rule=('"Put on your coat. It is cold outside," said {G}.', '"Don\'t forget your hat and mittens," {G} said.'),
         disobey=('"I am not cold," said {H}. {H} ran outside without it.',
                  "{H} was in a hurry. {he} ran out the door without {his} coat."),
         conseq=("The wind was icy. {soon}, {H} was shivering and {his} nose was red.",
                 "{H}'s fingers got so cold that {he} could not make a snowball."),
         fix=("{H} ran back inside. {G} wrapped {him} in a warm blanket and made hot cocoa.",
              "{G} came out with the coat and helped {H} put it on."),
         learn=("{H} learned that {G} knew best about coats.", "After that, {H} always wore {his} coat on cold days.")),
    dict(setup=("{onday} {G} was baking cookies.",
                "{onday} {H} helped {G} bake cookies. Soon they came out of the oven."),
         rule=('"Wait, the cookies are still hot," said {G}.', '"Don\'t touch the pan. It is very hot," {G} said.'),
         disobey=("But the cookies smelled so good. {H} reached out and grabbed one.",
                  "{H} could not wait. {he} touched the pan."),
         conseq=('"Ouch!" cried {H}. The cookie was too hot, and it burned {his} fingers.',
                 '"Ow, ow!" {H} cried and shook {his} {hands}.'),
         fix=("{G} held {his} fingers under cool water until they felt better.",
              "{G} blew on {his} fingers and gave {him} a cold cloth."),
         learn=("{H} learned that good things are worth waiting for.",
                "Next time, {H} waited until the cookies were cool.")),
    dict(setup=("{H} had {a_pkind} named {P}. {P} loved to run.", "{H} had a playful {pkind} named {P}."),
         rule=('"Always close the gate, so {P} cannot get out," said {G}.',
               '{G} always said, "Shut the gate behind you."'),
         disobey=("{onday} {H} was in a hurry to play and forgot to close the gate.",
                  "{H} ran out to play and left the gate wide open."),
         conseq=("{P} ran out of the yard and down the street!", "{soon}, {H} saw that {P} the {pkind} was gone!"),
         fix=("{H} and {G} looked everywhere. {finally}, they found {P} at the park, sniffing the flowers.",
              "{H} called and called. At last, {P} came home all by {pself}, dirty and happy."),
         learn=("From then on, {H} always closed the gate.", "{H} learned to be careful and to listen.")),
    dict(setup=("{onday} {H} was building a tall tower of blocks.", "{onday} {H} was playing a fun game with a ball."),
         rule=('{G} always said, "Be kind to your friends, and let them play too."',
               '"Remember to be kind," {G} said as {H} went out to play.'),
         disobey=('When {F} asked to play, {H} said, "Go away! This is my game."',
                  '{H} did not want {F} to play. "You are too slow," said {H}.'),
         conseq=("{F} walked away with tears in {fhis} eyes. {soon}, {H} was all alone, and the game was not fun "
                 "anymore.",
                 "{F} went home all alone. Playing alone was boring, and {H} felt bad inside."),
         fix=('{H} went to find {F}. "I\'m sorry," said {H}. "Will you play with me?" {F} smiled and said yes.',
              '{H} knocked on {F}\'s door. "I was not kind. I\'m sorry," {H} said. {F} gave {him} a hug.'),
         learn=("{H} learned that playing is more fun with friends.", "After that, {H} was always kind to {F}.")),
)

RACE_GOALS = _w("the big oak tree, the red barn, the top of the hill, the old fence, the little bridge, the end of "
                "the path,"
                "the big rock, the garden gate, the river, the swings")

# Baking: (what we bake, short name, "it"/"they", how it looks when done, what goes in).
BAKE_THINGS = (
    ("a cake", "cake", "it", "a big round cake", "flour, sugar, eggs, butter, milk, vanilla"),
    ("cookies", "cookies", "they", "a tray of warm cookies", "flour, sugar, butter, eggs, chocolate chips"),
    ("bread", "bread", "it", "a golden loaf of bread", "flour, water, salt, yeast"),
    ("an apple pie", "pie", "it", "a warm apple pie", "flour, butter, apples, sugar, cinnamon"),
    ("muffins", "muffins", "they", "twelve little muffins", "flour, milk, eggs, sugar, berries"),
    ("cupcakes", "cupcakes", "they", "a plate of cupcakes", "flour, sugar, eggs, butter, sprinkles"),
    ("banana bread", "banana bread", "it", "a loaf of banana bread", "bananas, flour, eggs, sugar, nuts"),
    ("cinnamon rolls", "cinnamon rolls", "they", "a pan of sticky cinnamon rolls", "flour, butter, sugar, cinnamon"),
    ("a cherry pie", "pie", "it", "a bubbly cherry pie", "flour, butter, cherries, sugar"),
    ("gingerbread men", "gingerbread men", "they", "a row of gingerbread men", "flour, ginger, honey, butter, raisins"),
    ("a pizza", "pizza", "it", "a big cheesy pizza", "flour, water, tomato sauce, cheese"),
    ("a carrot cake", "cake", "it", "a tall carrot cake", "carrots, flour, sugar, eggs, nuts"),
    ("biscuits", "biscuits", "they", "a plate of soft biscuits", "flour, butter, milk, salt"),
    ("a honey cake", "cake", "it", "a sweet honey cake", "flour, honey, eggs, butter"),
    ("a pumpkin pie", "pie", "it", "a round pumpkin pie", "pumpkin, eggs, milk, sugar, cinnamon"),
    ("oat cookies", "cookies", "they", "a jar of oat cookies", "oats, flour, butter, raisins, honey"),
    ("blueberry muffins", "muffins", "they", "a basket of blueberry muffins", "flour, milk, eggs, blueberries"),
    ("a lemon cake", "cake", "it", "a yellow lemon cake", "flour, sugar, eggs, lemon juice"),
)

RANDOM.update(goodsmell=_w("so good, wonderful, sweet, warm and sweet, like a bakery"))

RANDOM.update(shareto=_w(
    "the old lady next door, {his} friends, the mail carrier, {his} grandpa, the neighbors, the kids at the park,"
    "{his} teacher, the firefighters down the street, the man at the bakery, the whole family"))

# Weather spoils a plan: the season it needs, the plan, the weather, what it spoils, a better idea, the end.
WEATHERS: tuple[dict[str, tuple[str, ...]], ...] = (
    dict(season=("spring", "summer"), plan=("have a picnic in the park", "go to the beach"),
         bad=("Dark clouds rolled in, and big drops of rain began to fall. Plip, plop, plip!",
              "The sky turned gray, and soon it was raining hard."),
         spoil=("{H} pressed {his} nose to the window. The {plan_short} was ruined.",
                '"Now we can\'t go," {H} said {sadly}.'),
         idea=("{G} had {a_idea}. They spread a blanket on the living room floor and had a picnic inside!",
               "{G} found their rain boots. They went outside and jumped in every puddle. Splash!"),
         end=("{soon}, the rain stopped, and a big rainbow came out.",
              "Later, the sun came out, and the wet grass sparkled.")),
    dict(season=("fall", "spring"), plan=("fly {his} new kite on the hill", "fly {his} kite in the park"),
         bad=("The wind blew harder and harder. Whoosh!", "A strong wind came, and the trees bent and swayed."),
         spoil=("{suddenly}, the wind pulled the string out of {his} hand. Away went the kite, over the trees!",
                "{suddenly}, the wind took {H}'s hat right off {his} head!"),
         idea=("{H} and {G} ran after it. They found it stuck in a bush by the pond, not broken at all.",
               "{H} chased it across the field. {finally}, it landed in a pile of leaves, and {H} jumped in after it."),
         end=("They laughed and walked home, holding on tight.", "{H} held on with two hands the rest of the day.")),
    dict(season=("winter",), plan=("go to the park to play", "visit {his} friends down the street"),
         bad=("Snow fell all night long.", "A big snowstorm came in the night."),
         spoil=("In the morning, the snow was so deep that the door would not open!",
                "The snow was higher than {H}'s knees, and the roads were closed."),
         idea=("{G} and {H} got two shovels and dug a path, one scoop at a time.",
               "{G} said, \"Let's make the most of it!\" They put on warm coats and went out the back door."),
         end=("Then they built a big snowman with a carrot nose and two button eyes.",
              "They made snow angels and had a snowball fight.")),
    dict(season=("summer",), plan=("play tag in the park", "ride bikes with {his} friends"),
         bad=("But it was the hottest day of the year. The sun was very strong.",
              "The sun was so hot that the road felt warm."),
         spoil=("{soon}, {H} was hot, thirsty and tired. {his} ice cream melted all over {his} hand!",
                "{H} was too hot to play. {he} sat down with a red face."),
         idea=("{G} turned on the garden hose. {H} ran through the water, laughing and splashing.",
               "They found a big shady tree and sat under it with cold lemonade."),
         end=("When the sun went down, the air was cool again.", "It turned out to be a fun day after all.")),
    dict(season=("fall", "winter", "spring"), plan=("watch a movie", "bake cookies"),
         bad=("That night, a big storm came. The wind howled, and the thunder went boom.",
              "A storm came, and the rain hit the windows."),
         spoil=("{suddenly}, all the lights went out! It was very dark.", "Then the lights flickered and went off."),
         idea=("{G} found a flashlight. They made shadow puppets on the wall: a bunny, a bird and a big dog.",
               "{G} lit a candle, and they told stories under a blanket fort."),
         end=("{H} thought the storm night was the best night ever.",
              "When the lights came back on, {H} was a little sad. It had been so much fun.")),
    dict(season=("fall", "winter"), plan=("walk to {his} grandma's house", "go see the ducks at the pond"),
         bad=("In the morning, thick gray fog covered everything.",
              "A big, thick fog rolled in. {H} could not see the trees."),
         spoil=("{H} could not see the path at all.", '"How will we find the way?" asked {H}.'),
         idea=("{G} held {H}'s hand, and they walked slowly. They listened for the ducks, and they followed the sound.",
               "{G} knew the way by the fence. {H} kept one hand on the fence, step by step."),
         end=("{soon}, the sun came out and the fog went away.", "They got there safe and sound.")),
)

NEW_FRIEND_WAYS = (
    ("{F} was very shy and did not say much.", "{F} hid behind {fhis} mom and looked at the ground."),
    ("{F} came from far away and spoke a different language.", "{F} knew only a few words, so {fhe} mostly smiled."),
    ("{F} was much bigger than everyone else.", "Some of the others were a little afraid of {fhim}."),
    ("{F} was the smallest one of all.", "The others said {fhe} was too small to play."),
    ("{F} looked a little different, with spots all over.", "Some of the others laughed at {fhis} spots."),
    ("{F} wore big round glasses.", "{F} sat all alone on the steps."),
)

NEW_FRIEND_GIFTS = (
    "{F} taught {H} a song from {fhis} old home.", "{F} showed {H} how to make a paper bird.",
    "{F} knew the best game in the world, called jump the river.", "{F} could whistle like a bird.",
    "{F} showed {H} how to find four-leaf clovers.", "{F} could draw the most beautiful horses.",
    "{F} told {H} funny stories that made {him} laugh.", "{F} knew the names of all the stars.",
)

# What can be grown: (seeds, plant, what you get).
PLANTS = (
    ("sunflower seeds", "sunflower", "a tall yellow sunflower, even taller than {H}"),
    ("pumpkin seeds", "pumpkin plant", "a big orange pumpkin"),
    ("carrot seeds", "carrot plant", "long orange carrots"),
    ("bean seeds", "bean plant", "long green beans"),
    ("tomato seeds", "tomato plant", "little red tomatoes"),
    ("strawberry plants", "strawberry plant", "sweet red strawberries"),
    ("flower seeds", "flower", "pink and purple flowers"),
    ("pea seeds", "pea plant", "fat green peas in their pods"),
    ("lettuce seeds", "lettuce", "big green leaves of lettuce"),
    ("watermelon seeds", "watermelon plant", "a round green watermelon"),
)

RANDOM.update(pest=_w("snail, bunny, bird, caterpillar, slug, mouse"))

# An animal in trouble: find / state / care / return / after. The animal is always "it".
RESCUES: tuple[dict[str, tuple[str, ...]], ...] = (
    dict(find=("Under a tree, {H} found a tiny baby bird. It had fallen out of its nest.",),
         state=("The baby bird was cheeping and cheeping.", "It was too small to fly."),
         care=("{H} picked it up very {gently} and held it in {his} {hands}.",),
         back=("{G} got a ladder and put the baby bird back in its nest.",),
         after=("The mother bird flew back and sang a happy song.",
                "The next day, {H} saw the little bird peeking out of the nest.")),
    dict(find=("By the path, {H} saw a little duckling all alone. \"Peep, peep!\" it cried.",),
         state=("It had lost its mom and its brothers and sisters.",),
         care=("{H} walked slowly toward the pond, and the duckling followed {him}.",),
         back=("At the pond, they found the mother duck. The little duckling swam to her as fast as it could.",),
         after=('"Quack, quack!" said the mother duck, as if to say thank you.',
                "All the ducklings swam in a happy line.")),
    dict(find=("A little puppy with a red collar was sitting by the road, all alone.",),
         state=("It looked lost and hungry.", "It was shaking and its tail was down."),
         care=("{H} read the tag on the collar. It said {petname} and had a house number.",),
         back=("{H} and {G} walked the puppy home. A boy opened the door and cried, \"You found {petname}!\"",),
         after=("The puppy licked {H}'s face. {H} giggled.", "The boy's family gave {H} a big thank-you cookie.")),
    dict(find=("{H} saw a little hedgehog stuck in the garden fence.",),
         state=("It wiggled and wiggled, but it could not get free.",),
         care=("{H} ran to get {G}. {G} put on thick gloves and {gently} pulled the fence wire open.",),
         back=("The hedgehog wiggled free and waddled into the bushes.",),
         after=("That night, {H} left a little dish of water by the fence.",
                "Sometimes, {H} saw it again in the garden at night.")),
    dict(find=("{H} found a tiny kitten in a box by the road. It was raining, and the kitten was wet.",),
         state=("It was shivering and crying, \"Mew, mew.\"",),
         care=("{H} wrapped it in {his} scarf and carried it home. {G} dried it with a soft towel and gave it warm "
               "milk.",),
         back=("Nobody came to look for the kitten. \"Can we keep it?\" asked {H}. {G} smiled and said yes.",),
         after=("{H} named the kitten {petname}.", "The kitten curled up on {H}'s bed and purred.")),
    dict(find=("{H} saw a bee stuck in a puddle, buzzing its little wings.",),
         state=("It could not fly out of the water.",),
         care=("{H} put a leaf in the puddle {gently}. The bee climbed onto the leaf.",),
         back=("{H} put the leaf on a sunny rock. The bee dried its wings and flew away. Buzz!",),
         after=("{H} waved goodbye to the bee.", "The bee flew off to the flowers.")),
    dict(find=("A slow little turtle was trying to cross the busy path.",),
         state=("Bikes were going by very fast.",),
         care=("{H} picked it up {gently}, holding it by its shell.",),
         back=("{H} carried it to the pond, where it wanted to go. The turtle slid into the water. Plop!",),
         after=("It poked its head out and looked at {H}, as if to say thank you.",)),
)

RANDOM.update(petname=PET_NAMES)

TREASURE_FINDS = (
    "a box of shiny gold chocolate coins", "a jar of colorful marbles", "old toys from when {gcall} was little",
    "a little box of pretty stones", "a bag of cookies and a little note that said well done",
    "a new kite with a long tail", "two tickets to the circus", "a small wooden boat",
    "a note that said the best treasure is a friend",
)

LANDMARKS = _w(
    "the old well, the big oak tree, the garden gate, the little bridge, the red barn, the tall gray rock,"
    "the duck pond, the broken fence, the blue shed, the apple tree, the old swing, the mailbox, the bird bath,"
    "the wood pile, the hollow log, the big sunflower, the stone wall, the chicken coop, the willow tree"
)

TREASURE_BOXES = _w("a little wooden box, an old tin box, a small red chest, a metal box with a rusty lock, a shoe "
                    "box wrapped in tape,"
                    "a round cookie tin, a jar with a lid")

RANDOM.update(
    near=_w("near, under, behind, next to"),
    near_cap=_w("Near, Under, Behind, Next to"),
    notespot=_w("Under a red flower pot, Next to a rock, Inside an old boot, Behind a bush, Under a flat stone"),
    notespot2=_w("under a flower pot, in a crack in the wall, under a flat stone, tied to a branch, inside an old "
                 "boot"),
)

RANDOM.update(mapspot=_w("in the attic, in a bottle on the beach, under {his} pillow, behind the old shed, inside a "
                         "book"))
