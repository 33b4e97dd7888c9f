"""The demo's deliberation: agenda items of the reference community in every stage of their life,
with the threads, amendments, moderation, summaries and meetings a real neighbourhood produces.

The topics are the Z community's own (DOMAIN.md and the paper in seed/): about 500 parking spaces
for 1,730 cars, a neighbourhood anyone can walk into, parcels piled on the ground for want of a
locker, old six-storey blocks without lifts, the square's evening dancing, e-bikes charged on
trailing leads. Everything goes through the real actions (app.items, app.consultation,
app.amendments, app.meetings): the same checks, log entries and notices as real use, by demo
residents who are people of the register with accounts of their own.

The content is data (``ITEMS``, ``MEETINGS``); ``load_demo_deliberation`` plays it.
"""

from __future__ import annotations

import asyncio
import io
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from PIL import Image, ImageDraw
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app import amendments, consultation, items, log, meetings, share
from app.accounts import hash_password
from app.auth import Membership, load_membership
from app.models import (
    Account,
    AgendaItem,
    Ballot,
    Building,
    Comment,
    Community,
    DeliberationSettings,
    Grid,
    Person,
    Role,
    RoleGrant,
    Unit,
    UnitLink,
    utcnow,
)
from app.settings import Settings
from deliberation import threads

# --- who speaks ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Persona:
    """A demo resident: ``kind`` picks a fitting person of the register (see ``_fits``);
    ``who`` says who they are, for readers of this file (their name comes from the register).
    ``account`` makes one of the demo's role accounts (app.demo) this persona, so that whoever
    tries the demo as "owner" or "resident" finds their own items, replies and notices."""

    kind: str
    who: str
    account: str | None = None


PERSONAS: Final = {
    "e1": Persona("elder", "retired secondary-school teacher; writes long, careful comments"),
    "e2": Persona("elder", "retired factory worker, no car; short and blunt"),
    "e3": Persona("elder", "leads one of the square's dancing groups"),
    "e4": Persona("elder", "keeps the flower beds; against losing any green"),
    "e5": Persona("elder_top", "lives on the sixth floor of a block without a lift"),
    "e6": Persona("elder_ground", "ground-floor owner in a block getting a lift"),
    "o1": Persona("owner", "car owner, raised the parking item"),
    "o2": Persona("owner", "accountant; asks where the money goes"),
    "o3": Persona("owner_ground", "ground-floor owner, worried about light and noise"),
    "o4": Persona("owner", "car owner, sceptical of fees and of the committee"),
    "o5": Persona(
        "owner", "works in IT; raised the CCTV item, an amendment awaits them", account="owner"
    ),
    "o6": Persona("owner", "lawyer; cites the Civil Code"),
    "p1": Persona("parent", "mother of a toddler, elderly parents living with her"),
    "p2": Persona("parent", "father, school run by e-bike; raised the parcel-locker item"),
    "p3": Persona("parent", "parent of a pupil sitting the senior-school exam"),
    "t1": Persona("tenant", "food-delivery rider, charges an e-bike twice a day"),
    "t2": Persona("tenant", "night-shift nurse; raised the dancing item"),
    "t3": Persona("tenant", "young office worker with a car", account="resident"),
    "t4": Persona("tenant", "tenant family with two children, six years here"),
    "wy": Persona("owner", "works at the property company's service desk and lives here"),
    "x1": Persona("owner", "angry owner whose comment about tenants is hidden"),
    "x2": Persona("owner", "angry neighbour who posts someone's phone number"),
}
# Staff speak with their own demo accounts: the chair (召集人) and the grid member.
STAFF: Final = ("chair", "grid")
CROWD: Final = 70  # more demo residents who co-sign and react without speaking
# Accounts the demo makes for its residents (the role accounts already exist).
NEW_ACCOUNTS: Final = sum(1 for p in PERSONAS.values() if p.account is None) + CROWD


# --- what they say -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Say:
    """A comment: ``to`` is the key of the comment it replies to. ``react`` is how many other
    demo residents agree, disagree and question it. ``{b}`` in the text becomes the author's
    building number, ``{g}`` their grid's, and ``{n}`` names a neighbour of theirs with the
    neighbour's phone number (from the register: the private data a moderator hides).
    ``edit`` is a later text of the comment."""

    key: str
    who: str
    text: str
    to: str | None = None
    react: tuple[int, int, int] = (0, 0, 0)
    edit: str | None = None


@dataclass(frozen=True)
class Amend:
    """An amendment: the item's text at that moment with ``edits`` ((old, new) replacements)
    applied, proposed after comment ``after`` and decided by the item's author after comment
    ``decided_after`` (accepted or rejected); ``decision`` None leaves it open."""

    who: str
    rationale: str
    edits: tuple[tuple[str, str], ...]
    after: str
    decision: str | None = None
    decided_after: str | None = None
    note: str = ""


@dataclass(frozen=True)
class Hide:
    """A comment reported by a resident and hidden by the chair or by the author's grid member."""

    comment: str
    reporter: str
    report_reason: str
    report_note: str
    by: str  # "chair" | "grid"
    reason: str


@dataclass(frozen=True)
class Point:
    side: str  # "for" | "against"
    text: str
    comments: tuple[str, ...]


@dataclass(frozen=True)
class Item:
    """An agenda item and how far the demo takes it. ``decision`` is ``ballot:<demo ballot>``
    or ``meeting:<number>``; ``progress`` are the chair's implementation posts, in order."""

    title: str
    category: str
    author: str
    body: str
    stage: str
    cosigns: int | None = None  # None: as many as the threshold asks
    scope: str = ""
    decline: str = ""
    thread: tuple[Say, ...] = ()
    amendments: tuple[Amend, ...] = ()
    hides: tuple[Hide, ...] = ()
    summary: tuple[Point, ...] = ()
    decision: str = ""
    progress: tuple[tuple[str, str], ...] = ()
    picture: str = ""  # an attachment drawn for the draft (see ``_PICTURES``)


@dataclass(frozen=True)
class MeetingPlan:
    title: str
    kind: str
    place: str
    agenda: tuple[int, ...]  # item numbers
    held: bool
    attendance: int = 0
    eligible: int = 0
    votes: dict[int, tuple[int, int, int]] = field(default_factory=dict)
    minutes: str = ""


# --- #1 parking: consultation closed, the open parking ballot decides ------------------------------

PARKING_BODY = """\
## 现状

小区建于 1987 年,那时院里几乎没有私家车。现在划线车位约 **500 个**,登记在册的机动车约 **1,730 辆**,还不算外来车辆。每天晚上七点以后,消防通道、楼门口、绿地边上全停满了车,早上经常被堵在里面出不去。

去年冬天 12 号楼一位老人突发脑梗,120 救护车在北门被堵了将近十分钟,最后是邻居们抬着担架走出去的。这样的事不能再发生。

## 主要问题

- 车位和车辆之比约为 1 : 3.5,白天外来车辆(周边医院就诊、学校接送)占用大量车位;
- 消防通道被占,3 号楼、7 号楼、15 号楼门前最严重;
- 电动自行车和三轮车没有固定停放点,挤占人行道;
- 停车不收费、不登记,物业说“管不了”。

## 建议

1. 业主和租户的车辆凭房产证或租赁合同登记,发放电子通行证;
2. 外来车辆进入按时收费(建议前 30 分钟免费,之后每小时 2 元),收入公开,用于停车设施维护;
3. 划定消防通道禁停区,用黄色网格线标出,违停第一次提醒、第二次张贴告知单;
4. 具体的车位分配办法(凭证停车、单双号轮换、摇号)交给全体居民投票决定。

请邻居们附议,让这件事上议程。
"""

PARKING_THREAD = (
    Say(
        "p01",
        "e2",
        "我家没车。院里的车越来越多,我们晚上出来遛弯都没地方走,车就停在楼门口,拄拐的人根本过不去。先把消防通道和楼门口清出来,这一条我第一个支持。",
        react=(18, 1, 0),
    ),
    Say(
        "p02",
        "o1",
        "谢谢支持。消防通道这一条我觉得没有任何争议,可以先做,不用等投票。",
        to="p01",
        react=(9, 0, 0),
    ),
    Say(
        "p03",
        "wy",
        "我在小区物业服务中心做客服,也住在{b}号楼。物业这边说明一下:消防通道的标线去年画过一次,但没有任何处理手段,保安上前劝离经常挨骂。如果居民议事会通过了违停处理办法,我们可以照办法执行。",
        to="p01",
        react=(6, 2, 1),
    ),
    Say(
        "p04",
        "o4",
        "收着物业费,一句“管不了”就完了?晚上十点以后保安人都找不到。",
        to="p03",
        react=(11, 3, 0),
    ),
    Say(
        "p05",
        "wy",
        "夜班现在是 2 名保安管 5 个门,确实顾不过来。这不是推脱,是实情。要加一个夜班岗,每年大约多 12 万元人工,钱从哪里来也得大家一起定。",
        to="p04",
        react=(5, 4, 2),
    ),
    Say(
        "p06",
        "o2",
        "那停车收费的收入能不能用来补这个岗?只要收入和支出每季度公示,我就支持收费。",
        to="p05",
        react=(14, 1, 0),
    ),
    Say(
        "p07",
        "o4",
        "说是公示,最后谁来查账?以前的公共收益(电梯广告、楼顶基站的租金)一分钱的明细都没见过。",
        to="p06",
        react=(12, 0, 1),
    ),
    Say(
        "p08",
        "chair",
        "这个质疑很合理。建议写进方案:停车收费进入业委会单独开设的公共收益账户,每季度在议事厅和公告栏公示明细,账目接受监督员查阅。",
        to="p07",
        react=(10, 0, 0),
    ),
    Say(
        "p09",
        "t3",
        "我是租户,也有车。方案里写“凭租赁合同登记”,我们的合同一年一签,是不是每年都要重新办?会不会登记了也排在业主后面?",
        react=(3, 0, 7),
    ),
    Say(
        "p10",
        "o1",
        "我的想法是凭租赁合同登记,合同到期前续办一下就行,和业主同等对待。车位是全体业主共有的,但租户也是这里的居民,也交着停车的钱。",
        to="p09",
        react=(8, 2, 0),
    ),
    Say(
        "p11",
        "x1",
        "租房的外地人凭什么和业主一样?你们交过一分钱维修资金吗?小区素质差就是你们这些人闹的,车乱停、垃圾乱扔,要我说租户的车一律不许进!",
        to="p10",
        react=(2, 15, 0),
    ),
    Say(
        "p12",
        "t4",
        "我们每个月的房租里就包含了房东交的物业费。我在这儿住了六年,孩子在旁边的小学上学,我也是这个小区的居民。",
        to="p11",
        react=(16, 1, 0),
    ),
    Say(
        "p13",
        "e1",
        "就事论事,不要扣帽子。乱停车的业主也不少,我们楼下那几辆常年不动的“僵尸车”可都是业主的。",
        to="p11",
        react=(13, 0, 0),
    ),
    Say(
        "p14",
        "p2",
        "早上 7:20 到 7:50 是送孩子的高峰,北门那条路两边都是车,还有电动车逆行。能不能在北门内侧划几个“即停即走”的位置?",
        react=(9, 0, 0),
    ),
    Say(
        "p15",
        "p1",
        "同意!还有老人去医院,车开不到楼门口。我家老人腿不好,每次都得推着轮椅走一百多米。建议每个楼门口留一个临时停靠位。",
        to="p14",
        react=(11, 0, 0),
    ),
    Say(
        "p16",
        "o1",
        "好主意,这一条已经加进正文了(修改#1),限停 15 分钟,只用于上下车。",
        to="p15",
        react=(4, 0, 0),
    ),
    Say(
        "p17",
        "o6",
        "提醒一句:占用小区道路和公共场地设置的车位属于全体业主共有(《民法典》第二百七十五条),收费标准和收益分配要业主共同决定,不是物业或业委会单方面能定的。这次的投票是“征求意见”,结果只能作为参考。",
        react=(12, 0, 2),
    ),
    Say(
        "p18",
        "chair",
        "是的。本次投票是协商性质的征求意见,结果全部公开;如果多数人倾向收费方案,下一步会按第二百七十八条组织业主共同决定。",
        to="p17",
        react=(7, 0, 1),
    ),
    Say(
        "p19",
        "e4",
        "坚决反对把绿地改成车位。前几年拆违好不容易多了点绿化,不能为了停车又都铺成水泥。",
        react=(15, 3, 0),
    ),
    Say("p20", "o4", "没人说要占绿地吧?方案里没有这一条。", to="p19", react=(3, 0, 1)),
    Say(
        "p21",
        "e4",
        "第 8 号提案就是要把中心广场改成停车场的,我是怕一步一步来。",
        to="p20",
        react=(5, 1, 0),
    ),
    Say(
        "p22",
        "chair",
        "第 8 号提案已经答复,理由公开在它的页面上。改变广场的用途需要业主共同决定,不会在这里顺带通过。",
        to="p21",
        react=(6, 0, 0),
    ),
    Say(
        "p23",
        "t1",
        "说说电动车。我们送外卖的,电动车一天要充两次电,院里没有充电的地方,只能推上楼或者从窗户拉线。三轮车更没地方放。停车方案只管汽车不管电动车,等于只解决了一半。",
        react=(10, 1, 0),
    ),
    Say(
        "p24",
        "grid",
        "第{g}网格统计过,全小区的电动自行车和三轮车大约有 2,100 辆。充电的问题已经有邻居单独提了(第 7 号议题),欢迎去附议。",
        to="p23",
        react=(5, 0, 0),
    ),
    Say(
        "p25",
        "o2",
        "算一笔账:按前 30 分钟免费、之后每小时 2 元,外来车辆每天大约 200 辆次,平均停 3 小时,一年大约 200 × 5 × 365 ≈ **36 万元**。扣掉道闸和人工,一年还能剩十几万。这笔钱怎么用要先说清楚。",
        react=(9, 0, 3),
    ),
    Say(
        "p26",
        "o5",
        "道闸加车牌识别,两个门大约 6 万到 8 万元,我问过两家。系统的数据存在哪里、谁能看,也要写清楚。",
        to="p25",
        react=(6, 0, 0),
    ),
    Say(
        "p27",
        "e1",
        "我建议收益优先用于:\n\n1. 增加夜班保安;\n2. 维修路面和照明;\n3. 楼道的适老化改造。\n\n其余的由业主大会决定。",
        to="p25",
        react=(13, 0, 0),
    ),
    Say(
        "p28",
        "p3",
        "单双号轮换停车对上班族很不友好,今天停进来明天就得挪走,早上六点起来挪车吗?我投摇号。",
        react=(7, 4, 0),
    ),
    Say(
        "p29",
        "o4",
        "摇号更不公平,摇不上的一年都没地方停。我宁可单双号。",
        to="p28",
        react=(4, 6, 1),
    ),
    Say(
        "p30",
        "p3",
        "摇不上的可以优先安排到周边商场的夜间包月车位,物业能不能去谈谈?",
        to="p29",
        react=(5, 0, 2),
    ),
    Say(
        "p31",
        "wy",
        "已经在谈了。东边华联商场的地下车库夜间(19 点至次日 8 点)有约 120 个车位,初步报价每月 150 元。谈成以后会公告。",
        to="p30",
        react=(12, 0, 0),
    ),
    Say("p32", "t3", "150 元可以接受,比每天绕三圈找车位强。", to="p31", react=(6, 0, 0)),
    Say(
        "p33",
        "e3",
        "我就问一句:我们这些不开车的人,停车收的钱有没有我们的份?",
        react=(6, 1, 4),
    ),
    Say(
        "p34",
        "o6",
        "有。公共车位的收益属于全体业主共有,扣除管理成本后怎么用,由全体业主一起决定,不管家里有没有车。",
        to="p33",
        react=(8, 0, 0),
    ),
    Say(
        "p35",
        "o4",
        "我提的修改#2 被否了,理由我能理解,但外来车辆的收费标准一定要定得高一些,不然等于没管。",
        react=(5, 2, 0),
    ),
    Say(
        "p36",
        "grid",
        "停车方案的征求意见投票已经开始了,手机上就能投。不会用手机的老人可以填纸质票,网格员上门收,录入时会注明是纸质票。",
        react=(9, 0, 0),
    ),
)

PARKING = Item(
    title="停车秩序整治:约 500 个车位如何容纳 1,730 辆车",
    category="parking",
    author="o1",
    body=PARKING_BODY,
    stage="deciding",
    thread=PARKING_THREAD,
    amendments=(
        Amend(
            who="p1",
            rationale="老人看病、孩子上下学都需要车辆临时停到楼门口,建议把临时停靠位写进方案。",
            edits=(
                (
                    "4. 具体的车位分配办法",
                    "4. 每个楼门口保留 1 个临时停靠位(限停 15 分钟),方便接送老人、孩子和行动不便的邻居上下车;\n5. 具体的车位分配办法",
                ),
            ),
            after="p15",
            decision="accepted",
            decided_after="p15",
        ),
        Amend(
            who="o4",
            rationale="外来车辆是车位紧张的主要原因,收费治标不治本。",
            edits=(
                (
                    "2. 外来车辆进入按时收费(建议前 30 分钟免费,之后每小时 2 元),收入公开,用于停车设施维护;",
                    "2. 外来车辆一律不得进入小区;",
                ),
            ),
            after="p29",
            decision="rejected",
            decided_after="p32",
            note="亲友探望、外卖、维修、接送老人看病都需要车辆临时进出,一刀切会把车都堵到门口的马路上。保留收费方案,收费标准可以在投票后再议。",
        ),
    ),
    hides=(
        Hide(
            comment="p11",
            reporter="t3",
            report_reason="personal_attack",
            report_note="对租户整体的人身攻击。",
            by="chair",
            reason="personal_attack",
        ),
    ),
    summary=(
        Point(
            "for",
            "消防通道和楼门口禁停、楼门口设临时停靠位,几乎没有反对意见,可以先行实施。",
            ("p01", "p02", "p15"),
        ),
        Point(
            "for",
            "外来车辆按时收费,收入可补夜班保安和设施维护;前提是进入单独账户、按季度公示。",
            ("p06", "p08", "p25", "p27"),
        ),
        Point(
            "against",
            "担心收费收入去向不明:以往的公共收益从未公示过明细。",
            ("p07",),
        ),
        Point(
            "against",
            "租户担心登记办法把他们排在业主之后;多数意见认为应同等对待。",
            ("p09", "p10", "p12"),
        ),
        Point(
            "against",
            "单双号轮换不便上班族,摇号让摇不中的人一年无位,需要配套周边商场的夜间车位。",
            ("p28", "p29", "p31"),
        ),
        Point(
            "against",
            "方案只管汽车,电动自行车和三轮车的停放与充电另见第 7 号议题。",
            ("p23", "p24"),
        ),
    ),
    decision="ballot:parking",
    picture="parking",
)


# --- #2 lifts from the maintenance fund: decided by the art. 278 ballot, being built ---------------

LIFT_BODY = """\
第 3 至第 12 栋都是 1987 年建成的六层砖混楼,共 10 栋、30 个单元,没有电梯。这 10 栋楼里 60 岁以上的居民约占四成,不少人已经多年没有下过楼。

## 方案

1. 每个单元在楼梯间外侧加装 1 部电梯,平层入户或半层入户视单元条件而定;
2. 每部电梯总造价约 **48 万元**,市、区两级加装电梯补贴每部 **20 万元**,其余 **28 万元** 使用这 10 栋楼业主分户账中的专项维修资金;
3. 30 部合计动用维修资金约 **840 万元**,约占这 10 栋楼维修资金余额的四成;
4. 投票通过后三个月内签约,第一批 2 部在半年内完工,其余分批实施;
5. 电梯建成后的维保费和电费,由使用电梯的住户按月分摊。

## 为什么要业主共同决定

使用专项维修资金属于《民法典》第二百七十八条规定的重大事项:参与表决的业主须占专有部分面积和人数的三分之二以上,并经参与表决的专有部分面积和人数四分之三以上同意。
"""

LIFT_THREAD = (
    Say(
        "l01",
        "e5",
        "我住{b}号楼六楼,今年七十六了,膝盖做过手术,一个星期才下一次楼。家里买菜全靠孩子周末送。装电梯对我们来说不是改善生活,是能不能出门的问题。",
        react=(22, 0, 0),
    ),
    Say(
        "l02",
        "p1",
        "我家老人也是,住五楼,去年起就基本不下楼了。支持!",
        to="l01",
        react=(10, 0, 0),
    ),
    Say(
        "l03",
        "o3",
        "我是一楼住户。电梯井贴着我家窗户建,采光差了、噪音大了,房子还要贬值。用的是大家的维修资金,一楼得到了什么?",
        react=(9, 6, 1),
    ),
    Say(
        "l04",
        "o6",
        "一楼的顾虑是真实的,应该写进方案。其他城市的通行做法是一楼不出资,二楼以上按楼层系数分摊,必要时对一楼给予适当补偿。",
        to="l03",
        react=(14, 0, 0),
    ),
    Say(
        "l05",
        "o3",
        "补偿多少?谁来定?写进方案里我才放心。我提一个修改。",
        to="l04",
        react=(8, 0, 2),
    ),
    Say(
        "l06",
        "e1",
        "一楼邻居提的修改#1 我接受了:一楼不分摊维修资金和维保费用,施工方恢复窗前绿化,电梯运行后做噪音检测,超标的加装隔音措施。",
        to="l05",
        react=(7, 0, 0),
    ),
    Say("l07", "o3", "看到了,修改后的方案我可以接受。", to="l06", react=(9, 0, 0)),
    Say(
        "l08",
        "o2",
        "钱的问题请算清楚:每部总造价约 48 万元,补贴 20 万元,剩下 28 万元。30 个单元全装下来要动用维修资金约 840 万元,占这 10 栋楼维修资金余额的四成左右。以后楼顶防水、外墙维修还要用钱,余额够不够?",
        react=(11, 0, 4),
    ),
    Say(
        "l09",
        "e1",
        "这次动用的是这 10 栋楼业主分户账里的钱,不动其他楼的。剩下的六成留作屋面、管线等维修,按前五年的实际支出算,够用十年以上。",
        to="l08",
        react=(8, 1, 0),
    ),
    Say(
        "l10",
        "o2",
        "十年以后呢?电梯本身每年还有维保费,每部大约一万元,这笔钱谁出?",
        to="l09",
        react=(9, 0, 3),
    ),
    Say(
        "l11",
        "wy",
        "按现在的市场价,电梯维保每部每年 8,000 到 12,000 元,另加电费。一般做法是使用电梯的住户按月缴纳,每户每月 30 到 50 元。物业可以负责日常巡查,但不承担维保费用。",
        to="l10",
        react=(6, 0, 0),
    ),
    Say(
        "l12",
        "e5",
        "每月 50 元我们愿意出,总比请人背下楼便宜。",
        to="l11",
        react=(12, 0, 0),
    ),
    Say(
        "l13",
        "t4",
        "我们租户能说一句吗?房东说装了电梯要涨房租。我们不反对装,只希望施工的时候别把楼道全堵了,孩子每天要走的。",
        react=(5, 0, 0),
    ),
    Say(
        "l14",
        "grid",
        "施工期间会保留一侧通道,每个单元开工前网格员会挨家挨户通知。家里有行动不便的人,请提前告诉我们,会安排帮忙。",
        to="l13",
        react=(8, 0, 0),
    ),
    Say(
        "l15",
        "e6",
        "我八十多了住一楼,用不上电梯。装电梯要挖地基,我家的下水管道就在那底下,挖坏了谁负责?",
        react=(7, 1, 2),
    ),
    Say(
        "l16",
        "o5",
        "开工前施工单位要做管线勘测,燃气、给排水都要迁改,这部分费用已经含在 48 万元里。出了问题由施工方负责,合同里要写明。",
        to="l15",
        react=(6, 0, 0),
    ),
    Say("l17", "e6", "合同给我们看吗?", to="l16", react=(4, 0, 3)),
    Say(
        "l18",
        "chair",
        "合同签订后会张贴在居委会公告栏,要点在本议题的进度更新里公布,隐去个人信息。",
        to="l17",
        react=(9, 0, 0),
    ),
    Say(
        "l19",
        "o4",
        "这种事每次都是少数人着急,多数人无所谓。投票要三分之二的业主参加,我看根本凑不够。",
        react=(3, 5, 1),
    ),
    Say(
        "l20",
        "p2",
        "手机上就能投,不会用手机的有纸质票,网格员上门收。这次应该凑得够。",
        to="l19",
        react=(6, 0, 0),
    ),
    Say(
        "l21",
        "e2",
        "我住三楼,装不装对我影响不大。邻居们互相体谅一下吧,谁都会老。",
        react=(15, 0, 0),
    ),
    Say(
        "l22",
        "o6",
        "提醒:按《民法典》第二百七十八条,参与表决的业主要占专有面积和人数的三分之二以上,使用维修资金还要经参与表决的面积和人数四分之三以上同意。**不投票不会被算作同意。**",
        react=(10, 0, 0),
    ),
    Say(
        "l23",
        "o3",
        "这一条好。听说有的小区把不投票的算成同意,那是违法的。",
        to="l22",
        react=(8, 0, 0),
    ),
    Say(
        "l24",
        "e3",
        "电梯什么时候能装好?别又是说了三年没动静。",
        react=(5, 0, 2),
    ),
    Say(
        "l25",
        "e1",
        "方案写的是投票通过后三个月内签约,第一批 2 部半年内完工。进度会在本议题页面上按月更新。",
        to="l24",
        react=(6, 0, 0),
    ),
    Say(
        "l26",
        "p3",
        "建议电梯选能放下担架的尺寸(轿厢深度至少 1.6 米),老人真需要急救的时候才用得上。",
        react=(13, 0, 0),
    ),
    Say(
        "l27",
        "o5",
        "老楼的井道空间有限,担架梯要看每个单元的条件,至少应该做到轮椅能进。",
        to="l26",
        react=(5, 0, 1),
    ),
    Say(
        "l28",
        "wy",
        "物业统计了一下,这 10 栋楼 60 岁以上的老人约占住户的四成,其中独居老人 47 位。",
        react=(7, 0, 0),
    ),
)

LIFT = Item(
    title="使用专项维修资金为第 3 至第 12 栋加装电梯",
    category="facilities",
    author="e1",
    body=LIFT_BODY,
    stage="implementing",
    thread=LIFT_THREAD,
    amendments=(
        Amend(
            who="o3",
            rationale="一楼住户用不上电梯,却要承受采光、噪音和施工的影响,应当写明一楼不分摊并有补救措施。",
            edits=(
                (
                    "5. 电梯建成后的维保费和电费,由使用电梯的住户按月分摊。",
                    "5. 电梯建成后的维保费和电费,由使用电梯的住户按月分摊;\n6. 一楼住户不分摊维修资金和维保费用;施工单位负责恢复一楼窗前绿化,电梯运行后进行噪音检测,超标的加装隔音措施。",
                ),
            ),
            after="l05",
            # The owners' vote on the lifts was already under way: a text changed now would not
            # be the text they are voting on (and could not be decided by their vote).
            decision="rejected",
            decided_after="l05",
            note="业主表决已经开始,表决的是原方案,现在改正文会让表决结果对不上。一楼的补偿和噪音检测,表决通过后作为实施细则另行征求意见。",
        ),
    ),
    summary=(
        Point(
            "for",
            "高层的老人出行困难,装电梯关系到能不能出门。",
            ("l01", "l02", "l12"),
        ),
        Point(
            "for",
            "动用的是这 10 栋楼的分户账,余额仍可覆盖日常维修。",
            ("l08", "l09"),
        ),
        Point(
            "against",
            "一楼住户的采光、噪音和房屋价值受影响;修改建议#1 要求一楼不分摊并做噪音检测,留作实施细则。",
            ("l03", "l05", "l07"),
        ),
        Point(
            "against",
            "电梯维保的长期费用需要明确,由使用电梯的住户按月分摊。",
            ("l10", "l11"),
        ),
        Point(
            "against",
            "施工可能影响地下管线和楼道通行,合同要写明责任并公开。",
            ("l13", "l15", "l16", "l18"),
        ),
    ),
    decision="ballot:lift",
    progress=(
        (
            "in_progress",
            """\
### 第一批已签约

- 与电梯工程公司签订第一批合同:第 3 栋 1 单元、第 5 栋 2 单元,合同金额 96 万元;
- 两部电梯的政府补贴共 40 万元,区住建局已受理;
- 地质勘测和管线勘测已完成,燃气管线迁改方案已报燃气公司审批。

合同(隐去个人信息)已张贴在居委会公告栏,居委会办公室可以查阅全文。""",
        ),
        (
            "in_progress",
            """\
### 第 3 栋 1 单元开工

电梯井基础开挖,预计工期 75 天;施工期间单元门东侧保留 1.2 米宽的通道。

一楼住户窗前第一次噪音检测:昼间 52 分贝,符合标准。下一次检测在电梯试运行时进行。""",
        ),
    ),
)


# --- #3 parcel lockers: decided by the residents' council ------------------------------------------

LOCKERS_BODY = """\
小区没有快递柜,也没有正规的驿站。每天大约 **1,500 件** 快递堆在北门门卫室门口的地上:

- 下雨天纸箱全湿,丢了件也说不清是谁拿走的;
- 快递员为了赶时间,很多不打电话就直接放下;
- 上夜班、下班晚的邻居取不到件,第二天常常找不到。

## 建议

1. 在 3 号楼西侧空地设置 **2 组智能快递柜**(约 300 格),由运营商投资、安装和维护;
2. 快递柜免费保管 **24 小时**,超时按运营商标准收费,每 12 小时 0.5 元,最多 3 元;
3. 保留驿站的人工代收,老人可以凭姓名和手机尾号取件;
4. 运营商每年支付场地费,进入业主共有的公共收益账户,每季度公示;
5. 柜子加装雨棚和照明。
"""

LOCKERS_THREAD = (
    Say(
        "k01",
        "t1",
        "我送外卖,也兼职送快递。现在北门那儿快递堆成山,下雨天全湿了,丢了还说不清。柜子早该装了。",
        react=(12, 0, 0),
    ),
    Say(
        "k02",
        "e2",
        "我们老人不会用手机扫码,取件码的短信字太小看不清。装柜子可以,人工代收不能撤。",
        react=(16, 0, 0),
    ),
    Say(
        "k03",
        "p2",
        "同意,正文第 3 条写了保留人工代收,老人可以凭姓名和手机尾号取件。",
        to="k02",
        react=(7, 0, 0),
    ),
    Say("k04", "e2", "那就好。", to="k03", react=(2, 0, 0)),
    Say(
        "k05",
        "e4",
        "柜子放在 3 号楼西侧?那里正对着住户的窗户,快递车早上六点就来卸货,还让不让人睡觉了。",
        react=(9, 1, 0),
    ),
    Say(
        "k06",
        "p2",
        "这个我没考虑到。北门内侧原来的自行车棚拆掉以后有一块空地,离楼远一些,快递车也不用开进院子。大家觉得呢?",
        to="k05",
        react=(11, 0, 0),
    ),
    Say(
        "k07",
        "wy",
        "北门内侧那块地大约 40 平方米,放两组柜子没问题,电源可以从门卫室引过去。",
        to="k06",
        react=(6, 0, 0),
    ),
    Say("k08", "e4", "那里合适,我提个修改。", to="k07", react=(4, 0, 0)),
    Say("k09", "p2", "修改#1 已接受,谢谢。", to="k08", react=(3, 0, 0)),
    Say(
        "k10",
        "o2",
        "运营商每年付多少场地费?这个钱进谁的账?",
        react=(8, 0, 5),
    ),
    Say(
        "k11",
        "wy",
        "目前有两家报价,高的一家每年 6,000 元。按规定这属于业主共有的公共收益,进公共收益账户。",
        to="k10",
        react=(6, 0, 0),
    ),
    Say(
        "k12",
        "o4",
        "6,000 元太少了吧?人家一格一天能赚多少?",
        to="k11",
        react=(4, 2, 0),
    ),
    Say(
        "k13",
        "o5",
        "快递柜主要靠超时费和寄件佣金,利润其实不高,很多小区是免场地费的。能拿到 6,000 元不算少。",
        to="k12",
        react=(7, 1, 0),
    ),
    Say(
        "k14",
        "t2",
        "我上夜班,白天睡觉,快递员打电话根本接不到,柜子对我们很重要。超时收费能不能取消?",
        react=(5, 0, 1),
    ),
    Say(
        "k15",
        "p2",
        "超时收费是运营商的条件,我们已经把免费保管从 12 小时争取到了 24 小时。",
        to="k14",
        react=(4, 0, 0),
    ),
    Say(
        "k16",
        "p3",
        "柜子一定要有雨棚和照明,晚上下班取件的多是女士,北门那边太黑了。",
        react=(14, 0, 0),
    ),
    Say(
        "k17",
        "grid",
        "北门的照明已经报修,物业答复本月内换成 LED 灯。",
        to="k16",
        react=(6, 0, 0),
    ),
    Say(
        "k18",
        "o4",
        "我提了修改#2:柜子放在小区外面马路边,快递员就不用进小区了。",
        react=(3, 4, 0),
    ),
    Say(
        "k19",
        "o6",
        "放在小区外面占的是市政人行道,要城管审批,基本批不下来。",
        to="k18",
        react=(8, 0, 0),
    ),
    Say(
        "k20",
        "e1",
        "大件快递(米面油、家具)柜子放不下,还得送货上门。这一点要和快递公司说清楚,不能以有了柜子为由不送上门。",
        react=(15, 0, 0),
    ),
    Say("k21", "t4", "支持。我们家买婴儿用品,几乎每天都有快递。", react=(5, 0, 0)),
)

LOCKERS = Item(
    title="在北门内侧设置智能快递柜,保留人工代收",
    category="facilities",
    author="p2",
    body=LOCKERS_BODY,
    stage="decided",
    thread=LOCKERS_THREAD,
    amendments=(
        Amend(
            who="e4",
            rationale="3 号楼西侧正对住户窗户,快递车清晨卸货扰民;北门内侧离楼远,快递车也不必进院。",
            edits=(("在 3 号楼西侧空地设置", "在北门内侧原自行车棚旧址(约 40 平方米)设置"),),
            after="k08",
            decision="accepted",
            decided_after="k08",
        ),
        Amend(
            who="o4",
            rationale="快递员不进小区,更安全。",
            edits=(
                (
                    "在北门内侧原自行车棚旧址(约 40 平方米)设置",
                    "在北门外的人行道上设置",
                ),
            ),
            after="k18",
            decision="rejected",
            decided_after="k19",
            note="北门外是市政人行道,设柜需要城管审批,老人取件也更远。保留北门内侧的位置。",
        ),
    ),
    summary=(
        Point(
            "for",
            "快递堆在北门地上,丢件、淋湿;快递柜方便夜班和晚归的邻居取件。",
            ("k01", "k14", "k21"),
        ),
        Point(
            "for",
            "北门内侧原自行车棚旧址离楼较远,快递车不必进院,已按修改#1 写入正文。",
            ("k05", "k06", "k07"),
        ),
        Point(
            "against",
            "老人不会扫码取件,人工代收不能撤;大件仍须送货上门。",
            ("k02", "k03", "k20"),
        ),
        Point(
            "against",
            "场地费偏低、超时收费不合理。",
            ("k12", "k13", "k14"),
        ),
    ),
    decision="meeting:1",
)


# --- #4 CCTV and door access: consultation open --------------------------------------------------

CCTV_BODY = """\
小区有 5 个出入口,任何人都可以随便进出。全小区只有南门有 1 个摄像头,而且已经坏了两年。据派出所和网格员的统计,近一年来:

| 案件类型 | 起数 |
| --- | --- |
| 电动车电瓶被盗 | 17 |
| 自行车、电动车整车被盗 | 31 |
| 入室盗窃 | 3 |

每次报警,民警的第一句话都是“有监控吗?”

## 建议(第一期:监控)

1. 5 个出入口各装 2 路高清摄像头,主干道装 8 路,东门电动车棚装 6 路,共 **24 路**;
2. 录像在居委会机房保存 **30 天**,到期自动覆盖;调阅须两人在场并登记;
3. **不安装人脸识别**,只录像,不采集任何人的人脸信息;
4. 摄像头的安装位置和拍摄角度公示,不得拍到住户的窗户和室内。

费用约 **15 万元**,已列入参与式预算的候选项目(“安装监控”)。

## 第二期:楼门门禁(另行表决)

每个单元门装门禁,可刷卡、输密码或用手机开门;老人由网格员上门登记发卡。第二期的费用和方式在第一期完成后另行讨论。
"""

CCTV_THREAD = (
    Say(
        "c01",
        "e1",
        "支持装监控。去年我的电动车电瓶在楼下被偷了两次,报警以后派出所说没有监控,没法查。",
        react=(14, 0, 0),
    ),
    Say(
        "c02",
        "t3",
        "监控可以,人脸识别坚决不要。我们租户的个人信息已经被中介卖过好几次了。",
        react=(16, 1, 0),
    ),
    Say(
        "c03",
        "o5",
        "正文第 3 条写明了不装人脸识别,只录像。",
        to="c02",
        react=(7, 0, 0),
    ),
    Say(
        "c04",
        "o6",
        "建议再写一句:录像只用于治安和安全事件,除了公安机关依法调取,不向任何人提供。我提个修改。",
        to="c03",
        react=(12, 0, 0),
    ),
    Say(
        "c05",
        "o5",
        "好,修改#1 已接受,正文已经更新。",
        to="c04",
        react=(5, 0, 0),
    ),
    Say(
        "c06",
        "e3",
        "谁来看监控?24 路,物业那几个保安看得过来吗?",
        react=(6, 0, 5),
    ),
    Say(
        "c07",
        "wy",
        "监控主要用于事后调阅,不是 24 小时有人盯着。门卫室会有一块屏幕显示各个出入口的画面。",
        to="c06",
        react=(5, 0, 1),
    ),
    Say(
        "c08",
        "e3",
        "那装了有什么用,偷完了再看有什么用。",
        to="c07",
        react=(3, 5, 0),
    ),
    Say(
        "c09",
        "o5",
        "有监控本身就是威慑。其他老小区装了以后,盗窃案能下降一半以上。",
        to="c08",
        react=(9, 1, 0),
        edit="有监控本身就是威慑,而且出了事有据可查。(原先写的“盗窃案下降一半以上”没有可靠来源,已删去。)",
    ),
    Say(
        "c10",
        "o2",
        "“下降一半以上”有数据来源吗?别拍脑袋。",
        to="c09",
        react=(4, 1, 3),
    ),
    Say(
        "c11",
        "o5",
        "你说得对,我找不到可靠的出处,已经把那句话删了。方案里不写没有来源的数字。",
        to="c10",
        react=(6, 0, 0),
    ),
    Say(
        "c12",
        "p1",
        "楼门门禁一定要考虑老人:密码记不住,卡容易丢。最好能刷身份证或者社保卡。",
        react=(11, 0, 0),
    ),
    Say("c13", "e2", "对,我们楼的老人很多不用智能手机。", to="c12", react=(8, 0, 0)),
    Say(
        "c14",
        "grid",
        "门禁卡可以由网格员上门登记发放,独居老人优先。",
        to="c12",
        react=(6, 0, 0),
    ),
    Say(
        "c15",
        "t1",
        "门禁装了,外卖和快递怎么进?每次都要打电话叫人开门,超时了是要扣钱的。",
        react=(7, 2, 2),
    ),
    Say(
        "c16",
        "p2",
        "可以设送餐时段的临时密码,快递都放到北门的快递柜(第 3 号议题)。",
        to="c15",
        react=(5, 0, 0),
    ),
    Say(
        "c17",
        "x2",
        "说到电动车,{b}号楼那个天天把电动车推进楼道充电的,就是{n},大家直接打电话骂他!出了火谁负责?",
        to="c15",
        react=(3, 6, 0),
    ),
    Say(
        "c18",
        "e1",
        "有问题找网格员和物业处理,不要把别人的电话号码贴出来。",
        to="c17",
        react=(15, 0, 0),
    ),
    Say(
        "c19",
        "o4",
        "15 万元装 24 路,一路六千多,是不是贵了?网上一个摄像头才几百块。",
        react=(5, 1, 4),
    ),
    Say(
        "c20",
        "o5",
        "几百块的是家用的。室外工程级的摄像头、立杆、线缆、存储服务器和施工加起来,一路五六千是正常价。两家的报价:甲公司 14.6 万元,乙公司 15.8 万元,都含三年保修。",
        to="c19",
        react=(8, 0, 0),
    ),
    Say(
        "c21",
        "p3",
        "希望儿童游乐区也能覆盖一路,孩子在那边玩的时候,大人不一定一直看着。",
        react=(6, 1, 0),
    ),
    Say(
        "c22",
        "o6",
        "提醒:公共区域的摄像头不能拍到住户的窗户和室内,安装角度要公示,大家一起监督。",
        react=(10, 0, 0),
    ),
    Say(
        "c23",
        "e4",
        "设备的电费和维修谁出?别装上一年就坏了没人修,南门那个就是这样。",
        react=(9, 0, 0),
    ),
    Say(
        "c24",
        "wy",
        "设备维修可以纳入物业服务合同,每年大约 6,000 元,物业愿意承担,但要在合同里写明。",
        to="c23",
        react=(7, 0, 0),
    ),
    Say(
        "c25",
        "t4",
        "我提了修改#2:门禁先在 3 栋楼试点,大家觉得好用再推广。",
        react=(6, 1, 0),
    ),
    Say(
        "c26",
        "o5",
        "这个意见挺好,我还在考虑,主要是试点期间其他楼怎么办。",
        to="c25",
        react=(3, 0, 1),
    ),
)

CCTV = Item(
    title="出入口和主干道加装监控,楼门门禁分两期",
    category="security",
    author="o5",
    body=CCTV_BODY,
    stage="consultation",
    thread=CCTV_THREAD,
    amendments=(
        Amend(
            who="o6",
            rationale="写明录像的用途和对外提供的范围,打消大家对个人信息的顾虑。",
            edits=(
                (
                    "调阅须两人在场并登记;",
                    "调阅须两人在场并登记;录像只用于治安和安全事件,除公安机关依法调取外,不向任何单位和个人提供;",
                ),
            ),
            after="c04",
            decision="accepted",
            decided_after="c04",
        ),
        Amend(
            who="t4",
            rationale="门禁涉及每一户的日常进出,先试点、再推广,风险小。",
            edits=(
                (
                    "每个单元门装门禁,",
                    "先在 3 栋楼试点单元门禁,试行三个月后评估,再决定是否在全小区推广;",
                ),
            ),
            after="c25",
        ),
    ),
    hides=(
        Hide(
            comment="c17",
            reporter="e1",
            report_reason="private_data",
            report_note="公开了别人的电话号码。",
            by="grid",
            reason="private_data",
        ),
    ),
)


# --- #5 dancing in the square: decided by the council, done, closed -------------------------------

DANCING_BODY = """\
中心广场每天晚上有三支广场舞队伍,从 **19:00 跳到 21:30**,三个音响同时放。我们在离广场最近的楼里测过,窗外音量经常超过 **75 分贝**;国家标准规定居住区白天不超过 55 分贝、夜间不超过 45 分贝。

住在广场周边的,有上夜班的人,有要中考、高考的孩子,也有身体不好的老人。大家不反对跳舞,只希望定个规矩。

## 建议的公约

1. 跳舞时间:每天 **19:00–20:30**;
2. 音量:在最近的楼窗外测量不超过 **60 分贝**,几支队伍尽量共用一个音响;
3. 中考、高考期间暂停一周;
4. 物业购置一台分贝仪放在门卫室,任何人都可以借用;
5. 公约由各队伍负责人签字,张贴在广场公告栏。
"""

DANCING_THREAD = (
    Say(
        "d01",
        "e3",
        "我是跳广场舞的,带着一支队伍。我们跳舞是为了锻炼身体,以前真没意识到这么吵。时间和音量可以商量,但别不让跳。",
        react=(17, 0, 0),
    ),
    Say(
        "d02",
        "t2",
        "谢谢理解!没人要不让跳,只是希望八点半以后能安静下来,我第二天早上七点要上班。",
        to="d01",
        react=(12, 0, 0),
    ),
    Say(
        "d03",
        "p3",
        "孩子今年中考,晚上九点了窗外还在放《最炫民族风》,根本没法学习。建议中考、高考期间暂停一周。",
        react=(14, 1, 0),
    ),
    Say("d04", "e3", "考试期间我们停,这个没问题。", to="d03", react=(16, 0, 0)),
    Say(
        "d05",
        "e2",
        "广场就这么一块,老人跳舞、孩子滑板、还有人遛狗,能不能分个时间段?",
        react=(7, 0, 1),
    ),
    Say(
        "d06",
        "grid",
        "可以写进公约:19:00–20:30 跳舞,之前和周末白天留给孩子们。",
        to="d05",
        react=(5, 0, 0),
    ),
    Say("d07", "o4", "60 分贝怎么测?谁去测?", react=(4, 0, 6)),
    Say(
        "d08",
        "wy",
        "物业可以买一台分贝仪,两百块左右,放在门卫室,谁有疑问都可以借去测。",
        to="d07",
        react=(9, 0, 0),
    ),
    Say("d09", "o4", "这个办法好,有数据就不用吵架了。", to="d08", react=(6, 0, 0)),
    Say(
        "d10",
        "e1",
        "建议几支队伍共用一个音响,用定向音箱,声音朝广场中间放,不朝楼那边放。",
        react=(11, 0, 0),
    ),
    Say(
        "d11",
        "e3",
        "我们几个队长商量了,共用一个音响可以。周末能不能多跳半小时?我提个修改。",
        to="d10",
        react=(6, 0, 0),
    ),
    Say(
        "d12",
        "t1",
        "我夜里送完外卖回来都十二点了,广场舞倒不影响我,影响我的是半夜在广场喝酒喊叫的。",
        react=(5, 0, 1),
    ),
    Say(
        "d13",
        "grid",
        "夜间聚集喝酒的情况已经和派出所沟通了,会增加巡逻。",
        to="d12",
        react=(6, 0, 0),
    ),
    Say(
        "d14",
        "e5",
        "楼上的老人就指着跳舞锻炼,别一刀切。",
        react=(5, 1, 0),
    ),
    Say("d15", "p1", "赞成这个公约,大家各退一步。", react=(9, 0, 0)),
    Say(
        "d16",
        "o6",
        "公约通过以后最好请几位队长签字,贴在广场公告栏,谁都看得到。",
        react=(7, 0, 0),
    ),
)

DANCING = Item(
    title="中心广场广场舞:时间和音量公约",
    category="other",
    author="t2",
    body=DANCING_BODY,
    stage="closed",
    scope="grid:4",  # the central square's grid
    thread=DANCING_THREAD,
    amendments=(
        Amend(
            who="e3",
            rationale="周五、周六第二天不用上学上班,希望周末能多跳半小时。",
            edits=(
                (
                    "1. 跳舞时间:每天 **19:00–20:30**;",
                    "1. 跳舞时间:每天 **19:00–20:30**,周五、周六可延长到 21:00;",
                ),
            ),
            after="d11",
            decision="accepted",
            decided_after="d11",
        ),
    ),
    decision="meeting:1",
    progress=(
        (
            "in_progress",
            "公约已在中心广场公告栏张贴,三支队伍的负责人已签字。物业购置分贝仪一台(198 元),放在北门门卫室,可以免费借用。",
        ),
        (
            "done",
            """\
试行一个月的情况:

- 广场舞噪音投诉从每周十余起降到一个月 2 起;
- 三支队伍已共用一套定向音箱,晚上 20:30 准时结束;
- 中考期间各队伍暂停了 7 天。

公约长期执行,本议题关闭。""",
        ),
    ),
)


# --- #6 pocket park: on the agenda, consultation not yet open -------------------------------------

GREENING = Item(
    title="拆违空地建口袋公园:种树、设座椅,不做停车场",
    category="greening",
    author="p1",
    scope="building:7",
    body="""\
7 号楼和 9 号楼之间原来的违建拆除以后,空出了大约 **600 平方米** 的地。现在那里堆着建筑垃圾,一下雨就是泥塘,还有人开始往里停车。

## 建议把它建成一个口袋公园

1. 清运建筑垃圾,平整土地;
2. 种植乔木 12 棵(国槐、白蜡等本地树种),夏天能遮阴;
3. 铺一条 1.5 米宽的无障碍环形步道,轮椅和婴儿车都能走;
4. 沿步道设 8 组带靠背和扶手的座椅;
5. 划出 100 平方米的社区菜园,由居民认养,每户一小块。

## 费用和养护

- 估算约 **9 万元**,已列入参与式预算的候选项目(“绿化改造”);
- 日常养护纳入物业服务合同,菜园由认养的家庭自己打理。

**这块地不做停车场。** 停车问题请到第 1 号议题讨论。
""",
    stage="on_agenda",
)


# --- #7 e-bike charging: enough support, before the chair -----------------------------------------

EBIKES = Item(
    title="增设电动自行车集中充电棚,杜绝“飞线充电”",
    category="facilities",
    author="t1",
    body="""\
小区里的电动自行车和三轮车大约有 **2,100 辆**,却没有一个集中充电的地方。现在只有两种办法:

- 把车推进楼道、推上楼充电;
- 从窗户或楼道“飞线”拉电线到楼下充电。

这两种做法都是消防部门明令禁止的。老楼的楼道窄,一旦起火,楼上的人根本下不来。

## 建议

1. 在东门内侧现有的非机动车棚加装智能充电桩 **120 个**,刷卡或扫码充电,充满自动断电;
2. 按度收费,每度电不超过 1 元;三轮车单独划区停放;
3. 车棚加装烟感报警和 2 路监控,接入门卫室;
4. 建成后由物业和网格员上门劝导,三个月内清理楼道里的电动车。

费用约 **12 万元**,已列入今年参与式预算的候选项目(“增设电动自行车充电桩”)。如果预算没有覆盖,建议由充电运营商投资建设、分成运营。
""",
    stage="submitted",
)


# --- #8 a car park on the square: declined, with the reason in public ------------------------------

SQUARE_PARKING = Item(
    title="把中心广场改成停车场,增加 80 个车位",
    category="parking",
    author="o4",
    body="""\
小区中心广场面积约 **2,000 平方米**,白天基本空着。如果改成停车场,按每个车位 25 平方米(含通道)算,可以增加约 **80 个车位**。

- 晚上跳广场舞可以挪到北边的空地;
- 停车收费的收入可以用来维护小区;
- 施工简单,划线、加装道闸就行。

车位实在太紧张了,请大家附议。
""",
    stage="declined",
    decline="""\
中心广场是 2019 年改造时建成的公共健身场所。把它改成停车场属于改变共有部分的用途,依《民法典》第二百七十八条须由业主共同决定,不能通过一项议事提案决定;同时本提案与第 1 号议题(停车秩序整治)的讨论重合。

停车问题请到第 1 号议题继续讨论。如果仍希望改变广场的用途,可以另行发起业主共同决定的提案,届时会组织全体业主表决。""",
)


# --- #9 handrails: collecting support ------------------------------------------------------------

HANDRAILS = Item(
    title="老楼楼道加装扶手和折叠休息椅",
    category="facilities",
    author="e2",
    body="""\
小区的楼都是六层,没有电梯。很多老人上下楼要歇好几次,楼道里连个扶的地方都没有。

## 建议

1. 每个单元楼梯靠墙一侧加装不锈钢扶手(约 **220 个单元**);
2. 在三楼、五楼的平台各装一把可折叠的休息椅,不用时折起来,不占通道;
3. 楼道照明换成人体感应灯,老人晚上上下楼看得清。

按市场价,扶手每个单元约 1,500 元,折叠椅每把约 300 元,合计约 **46 万元**。可以申请街道的适老化改造补贴,不足部分建议从公共收益中列支。
""",
    stage="collecting",
    cosigns=12,
)


# --- #10 a draft nobody else sees yet ------------------------------------------------------------

MEALS = Item(
    title="在社区服务站开设老年助餐点",
    category="other",
    author="e4",
    body="""\
很多独居老人中午一个人做饭不方便,凑合一口就算了。建议在社区服务站开设老年助餐点:

- 午餐 11:00–12:30,一荤两素一汤;
- 80 岁以上的老人每餐补贴 5 元;
- 行动不便的老人由志愿者送餐上门。

(草稿:还在向街道了解补贴政策。)
""",
    stage="draft",
)

# In this order they get their numbers: the parking ballot's definition names item 1 and the lift
# ballot's item 2 (see app.demo), and the texts refer to each other by number.
ITEMS: Final = (
    PARKING,
    LIFT,
    LOCKERS,
    CCTV,
    DANCING,
    GREENING,
    EBIKES,
    SQUARE_PARKING,
    HANDRAILS,
    MEALS,
)

MEETINGS: Final = (
    MeetingPlan(
        title="Z社区居民议事会 2026 年第一次会议",
        kind="council",
        place="社区居委会二楼会议室",
        agenda=(3, 5),
        held=True,
        attendance=38,
        eligible=45,
        votes={3: (31, 4, 3), 5: (34, 1, 3)},
        minutes="""\
## 出席

居民议事会成员应到 45 人,实到 38 人,超过半数,会议有效。列席:物业服务中心、网格员。

## 议题一:第 3 号 在北门内侧设置智能快递柜

提案人介绍方案和修改#1(位置改到北门内侧原自行车棚旧址)。讨论要点:

- 保留驿站人工代收,老人可以凭姓名和手机尾号取件;
- 场地费每年 6,000 元进入公共收益账户,每季度公示;
- 大件快递仍须送货上门。

表决:赞成 31,反对 4,弃权 3,**通过**。

## 议题二:第 5 号 中心广场广场舞时间和音量公约

三支队伍的负责人到会,同意共用一套音箱;周五、周六可延长到 21:00(修改#1)。

表决:赞成 34,反对 1,弃权 3,**通过**。

## 其他

物业答复:北门照明本月内换成 LED 灯。下次会议讨论第 4 号议题(监控和门禁)和第 6 号议题(口袋公园)。""",
    ),
    MeetingPlan(
        title="Z社区居民议事会 2026 年第二次会议",
        kind="council",
        place="社区居委会二楼会议室",
        agenda=(4, 6),
        held=False,
    ),
)


# --- playing it ----------------------------------------------------------------------------------

BEIJING: Final = ZoneInfo("Asia/Shanghai")
CONSULTATION_DAYS: Final = 21
DEMO_POSTING_LIMIT: Final = 1_000  # comments an hour per account, while the demo is loaded
MEETING_LEAD: Final = timedelta(seconds=1)  # a meeting held in the demo starts this soon
DEMO_BALLOT_TITLES: Final = {"parking": "停车管理方案征求意见", "lift": "使用专项维修资金加装电梯"}
CONSULTED: Final = frozenset(
    {"consultation", "deciding", "decided", "implementing", "closed"}
)  # the stages an item reaches through a consultation
AGENDA: Final = CONSULTED | {"on_agenda"}


@dataclass
class _Member:
    """A demo resident or staff member, as the actions need them."""

    account: Account
    membership: Membership
    building: str
    grid_number: int
    grid_id: int | None


@dataclass
class _Candidate:
    person_id: int
    ref: str
    relation: str
    born: int | None
    floor: str
    building: str
    grid_id: int
    grid_number: int


def _adult(c: _Candidate, this_year: int) -> bool:
    return c.born is None or this_year - c.born >= 18


# Who fits a persona's kind, most specific first; a small register may lack some of them, so each
# kind falls back to a looser description rather than failing.
def _fits(kind: str, c: _Candidate, this_year: int) -> list[bool]:
    owning = c.relation in ("owner", "co_owner")
    lives = c.relation in ("owner", "co_owner", "family")
    elder = lives and c.born is not None and c.born <= this_year - 68
    lift_block = c.building.isdecimal() and 3 <= int(c.building) <= 12
    if kind == "elder":
        return [elder]
    if kind == "elder_top":
        return [elder and c.floor == "6" and lift_block, elder and c.floor == "6", elder]
    if kind == "elder_ground":
        return [elder and owning and c.floor == "1" and lift_block, elder and c.floor == "1", elder]
    if kind == "owner":
        return [owning and c.born is not None and 1960 <= c.born <= 1984, owning]
    if kind == "owner_ground":
        return [
            owning and c.floor == "1" and lift_block and (c.born or 0) >= 1950,
            owning and c.floor == "1",
            owning,
        ]
    if kind == "parent":
        return [lives and c.born is not None and 1983 <= c.born <= 1995, lives]
    if kind == "tenant":
        return [c.relation == "tenant" and _adult(c, this_year), c.relation == "tenant"]
    raise ValueError(f"unknown persona kind {kind!r}")


class _Demo:
    """The cast and the community while the demo plays: who says what, through which action."""

    def __init__(
        self,
        session: AsyncSession,
        community: Community,
        rng: random.Random,
    ) -> None:
        self.session = session
        self.community = community
        self.rng = rng
        self.people: dict[str, _Member] = {}  # persona key (and "chair", "grid") -> member
        self.crowd: list[_Member] = []
        self.grid_members: dict[int, _Member] = {}  # grid id -> its grid member
        self.ballots: dict[str, Ballot] = {}

    # -- the cast --

    async def _member(self, account: Account) -> _Member:
        membership = await load_membership(self.session, self.community, account)
        building, grid_number, grid_id = "", 0, None
        if membership.person is not None:
            found = (
                await self.session.execute(
                    select(Building.number, Grid.number, Grid.id)
                    .join(Unit, Unit.building_id == Building.id)
                    .join(UnitLink, UnitLink.unit_id == Unit.id)
                    .join(Grid, Grid.id == Building.grid_id)
                    .where(UnitLink.person_id == membership.person.id, UnitLink.until.is_(None))
                    .order_by(UnitLink.id)
                    .limit(1)
                )
            ).first()
            if found is not None:
                building, grid_number, grid_id = found[0], found[1], found[2]
        if grid_id is None and membership.grid_ids:  # staff outside the register: their grid
            grid_id = min(membership.grid_ids)
            grid = await self.session.get(Grid, grid_id)
            grid_number = grid.number if grid else 0
        return _Member(account, membership, building, grid_number, grid_id)

    async def cast(self, password_hash: str, this_year: int) -> None:
        """Demo residents for the personas and the crowd: people of the register without an
        account, chosen by what they are (age, tenure, floor), each given an account."""
        rows = await self.session.execute(
            select(
                Person.id,
                Person.ref,
                Person.birth_year,
                UnitLink.relation,
                Unit.number,
                Building.number,
                Grid.id,
                Grid.number,
            )
            .join(UnitLink, UnitLink.person_id == Person.id)
            .join(Unit, Unit.id == UnitLink.unit_id)
            .join(Building, Building.id == Unit.building_id)
            .join(Grid, Grid.id == Building.grid_id)
            .where(
                Person.community_id == self.community.id,
                Person.account_id.is_(None),
                Person.is_organisation.is_(False),
                UnitLink.until.is_(None),
            )
            .order_by(Person.ref, UnitLink.id)
        )
        candidates: dict[int, _Candidate] = {}
        for person_id, ref, born, relation, unit, building, grid_id, grid_number in rows.all():
            candidates.setdefault(
                person_id,
                _Candidate(
                    person_id, ref, relation, born, unit[:1], building, grid_id, grid_number
                ),
            )
        pool = [c for c in candidates.values() if _adult(c, this_year)]
        self.rng.shuffle(pool)
        taken: set[int] = set()
        for key, persona in PERSONAS.items():
            if persona.account is None:
                continue
            account = (
                await self.session.execute(
                    select(Account).where(Account.username == persona.account)
                )
            ).scalar_one()
            self.people[key] = await self._member(account)
            assert self.people[key].membership.person is not None
            taken.add(self.people[key].membership.person.id)
        for key, persona in PERSONAS.items():
            if persona.account is not None:
                continue
            chosen = None
            for level in range(3):
                chosen = next(
                    (
                        c
                        for c in pool
                        if c.person_id not in taken
                        and len(fits := _fits(persona.kind, c, this_year)) > level
                        and fits[level]
                    ),
                    None,
                )
                if chosen is not None:
                    break
            if chosen is None:  # a very small register: anyone adult will do
                chosen = next((c for c in pool if c.person_id not in taken), None)
            if chosen is None:
                raise ValueError("the register is too small for the deliberation demo")
            taken.add(chosen.person_id)
            self.people[key] = await self._account_for(chosen, password_hash)
        for c in pool:
            if len(self.crowd) >= CROWD:
                break
            if c.person_id in taken:
                continue
            taken.add(c.person_id)
            self.crowd.append(await self._account_for(c, password_hash))
        for username in STAFF:
            account = (
                await self.session.execute(select(Account).where(Account.username == username))
            ).scalar_one()
            self.people[username] = await self._member(account)
        grants = await self.session.execute(
            select(RoleGrant.grid_id, Account)
            .join(Account, Account.id == RoleGrant.account_id)
            .where(
                RoleGrant.community_id == self.community.id,
                RoleGrant.role == Role.grid_member,
                RoleGrant.grid_id.is_not(None),
            )
            .order_by(RoleGrant.id)
        )
        for grid_id, account in grants.all():
            if grid_id not in self.grid_members:
                self.grid_members[grid_id] = await self._member(account)

    async def _account_for(self, c: _Candidate, password_hash: str) -> _Member:
        person = await self.session.get(Person, c.person_id)
        assert person is not None
        username = c.ref.lower()
        taken = await self.session.execute(select(Account.id).where(Account.username == username))
        account = Account(
            username=None if taken.first() is not None else username,
            phone=person.phone,
            display_name=person.name,
            password_hash=password_hash,
        )
        self.session.add(account)
        await self.session.flush()
        person.account_id = account.id
        await self.session.commit()
        return await self._member(account)

    def everyone(self) -> list[_Member]:
        return [m for k, m in self.people.items() if k not in STAFF] + self.crowd

    async def text(self, who: str, template: str) -> str:
        member = self.people[who]
        text = template.replace("{b}", member.building or "1")
        text = text.replace("{g}", str(member.grid_number or 1))
        if "{n}" in text:
            text = text.replace("{n}", await self.neighbour(member))
        return text

    async def neighbour(self, member: _Member) -> str:
        """Someone in the member's building, as an angry neighbour would point them out."""
        found = (
            await self.session.execute(
                select(Unit.entrance, Person.name, Person.phone)
                .join(UnitLink, UnitLink.unit_id == Unit.id)
                .join(Person, Person.id == UnitLink.person_id)
                .join(Building, Building.id == Unit.building_id)
                .where(
                    Building.community_id == self.community.id,
                    Building.number == member.building,
                    Person.account_id.is_(None),
                    Person.phone.is_not(None),
                    Person.is_organisation.is_(False),
                    UnitLink.until.is_(None),
                )
                .order_by(Person.ref)
                .limit(1)
            )
        ).first()
        if found is None:
            return "隔壁单元那家"
        entrance, name, phone = found
        return f"{entrance}单元姓{name[:1]}的那家,电话 {phone}"

    # -- items --

    async def scope(self, scope: str) -> str:
        """A scope written with numbers ("grid:4", "building:7") as the draft form takes it (ids);
        none if this register has no such grid or building."""
        kind, _, number = scope.partition(":")
        table: Any = {"grid": Grid, "building": Building}.get(kind)
        if table is None:
            return ""
        value: Any = int(number) if table is Grid else number
        found = (
            await self.session.execute(
                select(table.id).where(
                    table.community_id == self.community.id, table.number == value
                )
            )
        ).scalar_one_or_none()
        return f"{kind}:{found}" if found is not None else ""

    async def draft(self, plan: Item) -> AgendaItem:
        author = self.people[plan.author]
        picture = _PICTURES[plan.picture]() if plan.picture else None
        return await items.create_draft(
            self.session,
            self.community.id,
            author.account,
            author.membership.person,
            title=plan.title,
            body=plan.body,
            category=plan.category,
            scope=await self.scope(plan.scope),
            uploads=[picture] if picture else [],
        )

    async def support(self, item: AgendaItem, plan: Item) -> None:
        """Co-signatures from the demo's residents: up to the threshold (the item then goes
        before the chair by itself), or the plan's smaller number while it is collecting."""
        wanted = plan.cosigns if plan.cosigns is not None else item.cosign_threshold
        others = [m for m in self.everyone() if m.account.id != item.author_id]
        self.rng.shuffle(others)
        for member in others[:wanted]:
            result = await items.cosign(
                self.session, item, member.account, member.membership.person
            )
            if result.submitted:
                break

    # -- consultations --

    async def consult(self, item: AgendaItem, plan: Item) -> dict[str, Comment]:
        """The thread, with the amendments proposed and decided where the talk leads to them,
        then reports, reactions, a later edit and the moderators' work."""
        posted: dict[str, Comment] = {}
        chair = self.people["chair"]
        for say in plan.thread:
            author = self.people[say.who]
            parent = posted[say.to].id if say.to else None
            posted[say.key] = await consultation.post_comment(
                self.session,
                author.membership,
                author.account,
                item,
                await self.text(say.who, say.text),
                parent,
            )
            for number, amend in enumerate(plan.amendments, 1):
                if amend.after == say.key:
                    await self.propose(item, amend)
                if amend.decided_after == say.key and amend.decision is not None:
                    await self.decide_amendment(item, number, amend)
        for hide in plan.hides:
            reporter = self.people[hide.reporter]
            await consultation.report_comment(
                self.session,
                reporter.membership,
                reporter.account,
                posted[hide.comment],
                hide.report_reason,
                hide.report_note,
            )
        for say in plan.thread:
            await self.react(item, posted[say.key], say)
        for say in plan.thread:
            if say.edit is not None:
                author = self.people[say.who]
                await consultation.edit_comment(
                    self.session,
                    author.membership,
                    author.account,
                    posted[say.key],
                    item,
                    await self.text(say.who, say.edit),
                )
        for hide in plan.hides:
            comment = posted[hide.comment]
            moderator = chair
            if hide.by == "grid":
                author_grid = self.people[
                    next(s.who for s in plan.thread if s.key == hide.comment)
                ].grid_id
                moderator = self.grid_members.get(author_grid or 0, chair)
            await consultation.hide_comment(
                self.session,
                moderator.membership,
                moderator.account,
                comment,
                item,
                hide.reason,
            )
        return posted

    async def react(self, item: AgendaItem, comment: Comment, say: Say) -> None:
        others = [m for m in self.everyone() if m.account.id != comment.author_id]
        wanted = list(zip(("agree", "disagree", "question"), say.react, strict=True))
        picked = self.rng.sample(others, min(len(others), sum(n for _k, n in wanted)))
        kinds = [kind for kind, n in wanted for _i in range(n)]
        for member, kind in zip(picked, kinds, strict=False):
            await consultation.react(
                self.session, member.membership, member.account, comment, item, kind
            )

    async def propose(self, item: AgendaItem, amend: Amend) -> None:
        await self.session.refresh(item)
        body = item.body
        for old, new in amend.edits:
            if old not in body:
                raise ValueError(f"amendment to #{item.number}: {old!r} is not in the text")
            body = body.replace(old, new, 1)
        author = self.people[amend.who]
        await amendments.propose(
            self.session,
            self.community,
            item,
            author.account,
            body,
            amend.rationale,
            item.revision,
        )

    async def decide_amendment(self, item: AgendaItem, number: int, amend: Amend) -> None:
        await self.session.refresh(item)
        amendment = await amendments.get_amendment(self.session, item, number)
        author = next(m for m in self.people.values() if m.account.id == item.author_id)
        if amend.decision == "accepted":
            await amendments.accept(self.session, self.community, item, amendment, author.account)
        else:
            await amendments.reject(
                self.session, self.community, item, amendment, author.account, amend.note
            )

    async def summarise(self, item: AgendaItem, plan: Item, posted: dict[str, Comment]) -> None:
        chair = self.people["chair"]
        rows = [
            threads.PointRow(
                point.side, point.text, " ".join(str(posted[key].id) for key in point.comments)
            )
            for point in plan.summary
        ]
        await consultation.publish_summary(
            self.session, chair.membership, chair.account, item, rows
        )

    # -- decisions --

    async def find_ballots(self) -> None:
        """The demo's parking and lift ballots (app.demo), which name items 1 and 2."""
        found = await self.session.execute(
            select(Ballot).where(Ballot.community_id == self.community.id).order_by(Ballot.number)
        )
        for ballot in found.scalars():
            named = (ballot.definition or {}).get("agenda_item")
            for key, number in (("parking", 1), ("lift", 2)):
                if named == str(number) or ballot.title == DEMO_BALLOT_TITLES[key]:
                    self.ballots.setdefault(key, ballot)

    async def link_ballot(self, item: AgendaItem, key: str) -> Ballot | None:
        """The demo's ballots were opened before its items existed: the link a chair makes by
        preparing a ballot from the item page is made here directly (it is no log entry)."""
        ballot = self.ballots.get(key)
        if ballot is None:
            return None
        await self.session.execute(
            update(AgendaItem)
            .where(AgendaItem.id == item.id, AgendaItem.decision_ballot_id.is_(None))
            .values(decision_ballot_id=ballot.id)
        )
        await self.session.commit()
        await self.session.refresh(item)
        return ballot


async def load_demo_deliberation(
    session: AsyncSession, settings: Settings, community: Community, *, seed: int = 2026
) -> None:
    """The demo's agenda items, once: nothing is done if the community already has items."""
    have = await session.execute(
        select(func.count()).select_from(AgendaItem).where(AgendaItem.community_id == community.id)
    )
    if have.scalar_one():
        return
    from app.demo import DEMO_PASSWORD  # app.demo calls this module: import it when called

    rng = random.Random(seed + 5)
    now = utcnow()
    demo = _Demo(session, community, rng)
    await demo.cast(await hash_password(DEMO_PASSWORD), now.astimezone(BEIJING).year)
    await demo.find_ballots()
    chair = demo.people["chair"].account

    # A resident may post DeliberationSettings.comments_per_hour comments an hour. The demo's
    # residents say a month's worth of talk within a minute, so the limit is raised while the
    # demo plays and put back afterwards: for the next hour it holds back only the demo's own
    # accounts, which then posted "too much".
    rules = await session.get(DeliberationSettings, community.id)
    if rules is None:
        rules = DeliberationSettings(community_id=community.id)
        session.add(rules)
    limit = rules.comments_per_hour
    rules.comments_per_hour = DEMO_POSTING_LIMIT
    await session.commit()

    numbered: list[tuple[Item, AgendaItem]] = []
    for plan in ITEMS:
        numbered.append((plan, await demo.draft(plan)))
    for plan, item in numbered:
        if plan.stage == "draft":
            continue
        author = next(m for m in demo.people.values() if m.account.id == item.author_id)
        await items.publish(session, item, author.account)
        await demo.support(item, plan)
        if plan.decline:
            await items.decline(session, item, chair, plan.decline)
        elif plan.stage in AGENDA:
            await items.accept(session, item, chair)

    for plan, item in numbered:
        if plan.stage not in CONSULTED:
            continue
        opens = utcnow()
        await items.open_consultation(
            session, item, chair, opens, opens + timedelta(days=CONSULTATION_DAYS)
        )
        posted = await demo.consult(item, plan)
        if plan.stage == "consultation":
            continue
        await items.close_consultation(session, item, chair)
        if plan.summary:
            await demo.summarise(item, plan, posted)

    # Decisions: the parking ballot is still open (item 1 waits for it); the owners' decision on
    # the lifts is final (item 2 is decided by it and being built); a meeting of the residents'
    # council decides items 3 and 5, and the next one is convened.
    by_number = {item.number: (plan, item) for plan, item in numbered}
    for plan, item in numbered:
        if plan.decision.startswith("ballot:"):
            await demo.link_ballot(item, plan.decision.partition(":")[2])
    for meeting_plan in MEETINGS:
        await _meeting(demo, meeting_plan, by_number)
    for plan, item in numbered:
        if plan.decision.startswith("ballot:") and plan.stage != "deciding":
            if item.decision_ballot_id is None:
                continue  # the demo's ballots are missing: the item waits for a decision
            await items.decide_by_ballot(session, item, chair)
        if item.status == "decided" and item.outcome == "rejected":
            await items.close_rejected(session, item, chair)
            continue
        if item.status in ("decided", "implementing"):
            for state, text in plan.progress:
                await items.post_progress(session, item, chair, text, state)

    rules = await session.get(DeliberationSettings, community.id)
    assert rules is not None
    rules.comments_per_hour = limit
    await session.commit()
    await log.integrate_all(session, settings)


async def _meeting(
    demo: _Demo, plan: MeetingPlan, by_number: dict[int, tuple[Item, AgendaItem]]
) -> None:
    """Convene a meeting; a held one starts a moment later, then its minutes are recorded and
    the items it voted on are decided by it."""
    session, community = demo.session, demo.community
    chair = demo.people["chair"].account
    agenda = [n for n in plan.agenda if n in by_number]
    if plan.held:
        starts = utcnow() + MEETING_LEAD
    else:
        day = (utcnow().astimezone(BEIJING) + timedelta(days=14)).date()
        starts = datetime.combine(day, time(19, 0), BEIJING).astimezone(UTC)
    meeting = await meetings.convene(
        session,
        community,
        chair,
        title=plan.title,
        kind=plan.kind,
        place=plan.place,
        starts_at=starts,
        agenda=agenda,
    )
    if not plan.held:
        return
    # Minutes are for a meeting that has begun: wait for its start, a moment away.
    await asyncio.sleep(max((starts - utcnow()).total_seconds(), 0) + 0.05)
    await meetings.record_minutes(
        session,
        community,
        meeting,
        chair,
        attendance=plan.attendance,
        eligible=plan.eligible,
        votes={n: plan.votes[n] for n in agenda if n in plan.votes},
        minutes=plan.minutes,
    )
    for number in agenda:
        if number not in plan.votes:
            continue
        _plan, item = by_number[number]
        await session.refresh(item)
        await items.decide_by_meeting(session, item, chair, meeting.number)


# --- pictures ------------------------------------------------------------------------------------


def _parking_chart() -> items.Upload | None:
    """A bar chart of spaces against vehicles, as a resident would attach to the parking item;
    none where no Chinese font is installed (the labels would be boxes)."""
    font_path = share.find_cjk_font()
    if font_path is None:
        return None
    rows = [
        ("划线车位", 500, share.BRAND),
        ("登记的机动车", 1_730, share.INK),
        ("电动车和三轮车", 2_100, share.MUTED),
    ]
    width, height, left, right = 1200, 640, 340, 150
    image = Image.new("RGB", (width, height), share.BACKGROUND)
    draw = ImageDraw.Draw(image)
    title, label, small = (share.load_font(font_path, size) for size in (44, 32, 24))
    draw.text((60, 50), "Z社区:车位与车辆(约数)", font=title, fill=share.INK)
    scale = (width - left - right) / max(n for _l, n, _c in rows)
    for index, (name, count, colour) in enumerate(rows):
        top = 170 + index * 130
        draw.text((60, top + 14), name, font=label, fill=share.INK)
        draw.rectangle((left, top, left + round(count * scale), top + 70), fill=colour)
        draw.text(
            (left + round(count * scale) + 16, top + 14), f"{count:,}", font=label, fill=share.INK
        )
    draw.line((left, 150, left, 590), fill=share.LINE, width=2)
    draw.text((60, 596), "来源:网格员入户统计与物业登记,2026 年", font=small, fill=share.MUTED)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return items.Upload("车位与车辆对比.png", out.getvalue())


_PICTURES: Final = {"parking": _parking_chart}
