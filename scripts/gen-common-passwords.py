#!/usr/bin/env python3
"""Writes src/auth/common-passwords.txt: passwords people commonly choose in
German- and English-speaking use, for the refusal of common passwords.

Written by hand for Kabine (no list was downloaded): base words people use
(words, names, football clubs, keyboard walks, number runs) combined with the
endings people add to them. Only entries of 8 or more characters are kept,
since shorter passwords are refused by length anyway. Comparison is
case-insensitive, so every entry is lowercase.

    scripts/gen-common-passwords.py > src/auth/common-passwords.txt
"""

WORDS_EN = """
password passwort kennwort passwd secret letmein welcome iloveyou loveyou princess sunshine football
baseball basketball soccer hockey monkey dragon master shadow superman batman spiderman ironman
hunter trustno freedom whatever qwerty starwars computer internet charlie summer winter spring
autumn flower secret pokemon minecraft fortnite chocolate butterfly cookie pepper ginger tigger
buster maggie bailey banana orange purple silver golden diamond rainbow angel lovely loveme family
forever friends friend hello admin administrator login access mustang corvette ferrari porsche
harley yankees cowboys eagles steelers lakers london america england samsung iphone google
facebook youtube twitter matrix killer thunder ranger maverick phoenix gandalf frodo hobbit
wizard merlin legend warrior knight pirate ninja samurai zombie vampire hacker coffee beer pizza
cheese cherry strawberry peanut muffin cupcake sweetie sweetheart honey darling babygirl
baby daddy mommy mother father sister brother jesus christ heaven blessed church genesis
guitar music rockstar metallica nirvana beatles elvis pumpkin turtle rabbit kitten puppy doggie
tiger lion eagle falcon shark dolphin panther jaguar cobra viper scorpion spider apple lemon
mango kiwi peach melon tomato potato garden forest ocean river mountain island paradise
victory winner champion soldier captain general doctor nurse teacher student school college
office company business money dollar euro bitcoin crypto ferrari lambo bmw audi mercedes toyota
honda nissan ford chevy camaro jeep volvo skoda fiat dodge yamaha suzuki kawasaki ducati
playboy sexy hottie lover kisses cutie monster creeper diablo lucifer satan devil angel
starlight moonlight midnight sunset sunrise skywalker jedi vader yoda hogwarts potter
harrypotter hermione pikachu mario zelda nintendo playstation xbox gamer gaming player
scooter skater surfer snowboard skiing fishing hunting cowboy indian viking spartan
asdfasdf zaq12wsx changeme default guest user test testing demo sample example temp
newpass newpassword mypassword mypass private public system server network security
welcome1 abc123 pass1234 qwerty1 letmein1 monkey1 dragon1 iloveyou1 master1 shadow1
charlie1 michael1 jordan23 superstar lovelove babyboy
"""

WORDS_DE = """
passwort kennwort geheim geheimnis hallo hallowelt schatz schatzi schatzilein liebe liebling
ichliebedich liebedich sonne sonnenschein blume blumen fussball fußball schalke bayern fcbayern
bayernmuenchen bayernmünchen dortmund borussia hertha werder hamburg koeln köln effzeh eintracht
stuttgart frankfurt muenchen münchen berlin deutschland germany mausi mäuschen maeuschen
baerchen bärchen hase hasi hasilein engel engelchen teufel katze katzen kater hund hunde
hündchen pferd pferde pony sommer winter fruehling frühling herbst weihnachten ostern familie
freunde freundin freund schule lehrer arbeit urlaub ferien computer rechner mercedes
volkswagen porsche opel ficken arschloch scheisse scheiße schnecke zuckerschnecke prinzessin
zauberer drache drachen tiger loewe löwe adler schmetterling schokolade kaffee bier pizza
spaghetti kartoffel apfel banane erdbeere kirsche willkommen anmelden zugang benutzer praxis
therapie termin videokonferenz konferenz kabine meeting besprechung sprechstunde
beratung kinder mama papa oma opa bruder schwester tochter sohn ehefrau ehemann
hochzeit geburtstag glueck glück gluecklich glücklich zuhause heimat himmel hoelle hölle
stern sterne mond regenbogen zuckerpuppe kuschelbaer kuschelbär knuddel knuddelbaer
schmusekatze biene bienchen maja sternchen spatz spatzi krümel kruemel keks kekse
mausebaer mausebär dickerchen hasenzahn dummkopf idiot penner wichser fotze hurensohn
fickdich leckmich lmaa nutte schlampe wurst bratwurst currywurst brezel sauerkraut
lederhose oktoberfest feierabend wochenende montag freitag samstag sonntag
januar februar maerz märz april juni juli august september oktober november dezember
nuernberg nürnberg leipzig dresden hannover bremen duesseldorf düsseldorf essen bochum
wolfsburg freiburg mainz augsburg gladbach leverkusen kaiserslautern rostock kiel
wien oesterreich österreich schweiz zuerich zürich salzburg graz linz rapid austria
sparkasse volksbank telekom vodafone fritzbox speedport router internet handy
feuerwehr polizei bundeswehr soldat panzer adler kaiser koenig könig koenigin königin
prinz ritter burg schloss zwerg hexe elfe fee einhorn dinosaurier pinguin eisbaer eisbär
delfin schildkroete schildkröte hamster meerschwein meerschweinchen wellensittich
"""

NAMES = """
michael thomas andreas stefan stephan christian markus marcus daniel alexander sebastian tobias
peter martin frank klaus juergen jürgen wolfgang dieter hans werner helmut manfred gerhard
horst bernd ralf rolf sabine petra andrea claudia susanne nicole stefanie stephanie julia anna
laura lisa sarah sara lena leonie leon lukas lucas finn paul jonas felix maximilian sophie
sophia marie maria emma mia hannah emily emilia jessica jennifer melanie sandra katrin kathrin
birgit monika ursula heike karin gabriele gabi tanja nadine vanessa jasmin kevin dennis
patrick florian simon david oliver jacob jakob ethan james john robert richard charles joseph
mary patricia linda barbara elizabeth susan margaret jessica ashley amanda nicholas matthew
joshua andrew anthony william christopher brandon justin tyler austin jordan taylor hunter
samantha stephanie rebecca michelle kimberly elizabeth amber brittany chelsea heather tiffany
christina natalie victoria olivia isabella charlotte amelia harry george oscar jack charlie
noah elias luca ben benjamin henry moritz niklas nico jannik tim timo marcel sven jens dirk
uwe torsten thorsten carsten kai lars nils ole sören soeren jan fabian julian dominik philipp
johannes matthias mathias christoph robin marco mario pascal rene rené sascha steffen holger
ingo olaf volker joerg jörg guenter günter karl heinz friedrich ernst otto franz josef
angelika brigitte christa doris elke erika eva gisela helga ilse inge irene jutta kerstin
marion martina renate silke simone ulrike anja antje bettina britta carina daniela diana
franziska jana janina jacqueline janine kristin lea luisa marina miriam nina patricia
ramona sabrina saskia sylvia svenja tamara theresa verena yvonne zoe clara ida greta lina
mila frieda ella luise johanna charlotte paula amelie lotta marlene annika
"""

CLUBS = """
schalke04 s04 bvb09 bvb fcb fcbayern fcbayern1900 bayern1900 hsv1887 werder1899 svwerder
fcköln fckoeln effzeh1948 vfb1893 vfbstuttgart eintracht1899 sge1899 herthabsc hertha1892
fcunion unionberlin fcstpauli stpauli fortuna95 f95 hannover96 h96 bmg1900 borussiamg
vfl1848 vflbochum vflwolfsburg tsg1899 hoffenheim fcn1900 clubberer fck1900 lautern
dynamodresden rbleipzig rapidwien austriawien sturmgraz manutd manchesterunited liverpool
liverpoolfc chelsea chelseafc arsenal arsenalfc tottenham barcelona barca realmadrid
juventus acmilan intermilan
"""

KEYBOARD = """
qwertz qwertzu qwertzui qwertzuiop qwerty qwertyu qwertyui qwertyuiop asdfgh asdfghj asdfghjk
asdfghjkl asdfghjklö yxcvbn yxcvbnm zxcvbn zxcvbnm 1q2w3e4r 1q2w3e4r5t 1q2w3e4r5t6z 1q2w3e4r5t6y
q1w2e3r4 q1w2e3r4t5 1qay2wsx 1qaz2wsx 2wsx3edc 1qay2wsx3edc 1qaz2wsx3edc qayxsw qayxswedc
qazwsx qazwsxedc qweasd qweasdyxc qweasdzxc 1234qwer qwer1234 qwert12345 asdf1234 1234asdf
123qwe qwe123 qweqwe qweasdzxc123 zaq1xsw2 zaq12wsx xsw23edc mnbvcxy poiuztrewq poiuytrewq
lkjhgfdsa ytrewq trewq qwertz12 qwertz123 qwertz1234 qwerty12 qwerty123 qwerty1234 azerty
azertyuiop 1qw23e 1qwer4 !qaz2wsx 1q2w3e 1q2w3e4 q2w3e4r5 123456qwertz 123456qwerty
"""

DIGITS = """
12345678 123456789 1234567890 0123456789 01234567 87654321 987654321 9876543210 11111111
00000000 22222222 88888888 99999999 12341234 11223344 12121212 123123123 112233445566
147258369 159753159 741852963 963852741 789456123 123654789 13579111 24682468 12344321
11112222 12312312 10203040 102030405 1020304050 69696969 12345679 123456780 1234554321
11235813 31415926 314159265 27182818 1q2w3e4r 19216811 19216801 01011970 01011980 01011990
01012000 12345678910 123456789a a123456789 1a2b3c4d 1a2b3c4d5e a1b2c3d4 a1b2c3d4e5 abc12345
abcd1234 abcde123 abcdefg1 abcdefgh abcdefghi abcdefghij aabbccdd 123abc123 abc123abc
"""

PHRASES = """
iloveyou ichliebedich iliebedich loveyou2 lovelove letmein letmein1 letmein! trustno1 changeme
changeme1 changeit welcome1 welcome123 welcome! willkommen1 willkommen123 secret123 geheim123
geheim1234 hallowelt helloworld hello123 hallo123 hallo1234 hallo12345 passwort1 passwort12
passwort123 passwort1234 passwort! kennwort1 kennwort123 startstart start123 start1234
test1234 test12345 testtest testing123 test123! admin123 admin1234 admin12345 administrator
administrator1 root1234 rootroot user1234 username benutzer1 benutzer123 guest123 gast1234
gast12345 default1 default123 password1 password12 password123 password1234 password! password1!
p@ssword p@ssw0rd passw0rd pa$$word pa55word passw0rt p@sswort p@ssw0rt passwort2024
passwort2025 passwort2026 passwort2023 password2024 password2025 password2026 password2023
sommer2024 sommer2025 sommer2026 winter2024 winter2025 winter2026 herbst2024 herbst2025
fruehling2025 frühling2025 sommer2023 winter2023 januar2025 januar2026 februar2025 februar2026
maerz2025 april2025 mai2025 juni2025 juli2025 august2025 september2025 oktober2025
november2025 dezember2025 spring2025 summer2025 autumn2025 winter2025 fall2025
qwertz123 qwertz1234 qwertzuiop1 asdfghjkl1 yxcvbnm1 1q2w3e4r5t 1qay2wsx3edc 1qaz2wsx
ichbins ichbinsnur ichbinesnur dasistgeheim geheimgeheim keineahnung weissnicht weißnicht
vergessen vergessen1 nichtvergessen passwortvergessen passwort vergessen egal egal123
einszweidrei einszweidreivier meinpasswort meinkennwort neuespasswort neueskennwort
sicheres passwort sicherespasswort sicherheit sicherheit1 datenschutz datenschutz1
dsgvo2018 praxis123 praxis2024 praxis2025 therapie1 therapie123 schule123 schule2024
schule2025 lehrer123 kabine123 kabine2025 kabine2026 meeting123 video1234 konferenz1
jitsimeet jitsi123 zoom1234 teams123 skype123 webex123 homeoffice homeoffice1 corona2020
corona2021 covid19 covid2020 lockdown quarantaene quarantäne impfung impfen123
iloveyou! iloveu2 loveyou1 fuckyou fuckyou1 fuckoff fickdich1 leckmich1 leckmichamarsch
ilovemymom ilovemydog ilovemycat ichliebemama motherlode letitbe takeiteasy nevergiveup
carpediem dontforget whatever1 trustme ihateyou iamgod jesuslovesme godisgood hallelujah
jesus123 gottistgut vaterunser amen1234 hakunamatata supercalifragilistic
"""

TOP = """
password passwort kennwort geheim hallo schatz iloveyou ichliebedich qwertz qwerty fussball
schalke bayern dortmund sonne sommer winter admin test welcome letmein monkey dragon master
football baseball princess sunshine michael thomas andreas daniel stefan sabine julia
computer internet liebe familie deutschland berlin hamburg
"""
SUFFIXES = ["", "1", "2", "12", "123", "1234", "12345", "321", "!", "1!", "123!", "!!", "#1", "69", "99", "00", "007"]
YEARS = [str(y) for y in range(1960, 2027)]
SHORT_SUFFIXES = ["", "1", "12", "123", "1234", "!", "2024", "2025", "2026"]
TOP_NAMES = 60

def words(block):
    return [w for w in block.split() if w]

def leet(w):
    out = {w}
    for a, b in [("a", "@"), ("o", "0"), ("e", "3"), ("i", "1"), ("s", "$"), ("ß", "ss"), ("ä", "ae"), ("ö", "oe"), ("ü", "ue")]:
        out |= {x.replace(a, b) for x in list(out)}
    return out

def main():
    out = set()
    for w in words(TOP):
        for s in SUFFIXES + YEARS:
            out.add(w + s)
        for v in leet(w):
            for s in ["", "1", "123", "!"]:
                out.add(v + s)
    for w in words(WORDS_EN) + words(WORDS_DE):
        for s in SHORT_SUFFIXES:
            out.add(w + s)
        out.add(w + w)
    for i, n in enumerate(words(NAMES)):
        for s in SHORT_SUFFIXES:
            out.add(n + s)
        if i < TOP_NAMES:
            for y in YEARS[15:46]:
                out.add(n + y)
        out.add("ichliebe" + n)
        out.add("ilove" + n)
    for w in words(CLUBS) + words(KEYBOARD) + words(DIGITS):
        for s in ["", "1", "123", "!"]:
            out.add(w + s)
    for p in PHRASES.split("\n"):
        for w in p.split():
            for s in ["", "1", "123", "!"]:
                out.add(w + s)
    kept = sorted(x.lower() for x in out if len(x) >= 8)
    print("# Common passwords in German- and English-speaking use, written for Kabine")
    print("# by scripts/gen-common-passwords.py. Lowercase; compared case-insensitively.")
    print("# Only entries of 8 or more characters: shorter ones are refused by length.")
    for x in kept:
        print(x)

main()
